"""`streamclip report OUT`: the static review site in OUT/report/ (works from file://, offline).

    OUT/report/index.html, index/NN.js every video: duration, clips, dropped, failures, time (`review.index`)
    OUT/report/videos/<slug>.html      curve, threshold, cuts, bands, strip, a card per clip
    OUT/report/media/<slug>/strip-NN.jpg, media/posters/<uuid>.jpg
    OUT/report/assets/report.css, report.js
    OUT/report/.state.json             each video's input signature: unchanged videos are skipped
                                       (`review.state`: read as untrusted, removes only inside the site)

Pages are Jinja2 templates (package data) with inline SVG; links are relative, so the folder can be
opened from disk, copied, or served (`serve` does, on its metrics address). Every file is written to
a temporary name and renamed into place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from streamclip.ffmpeg import children
from streamclip.review import thumbs
from streamclip.review.charts import chart_of
from streamclip.review.index import IndexMemo, write_index
from streamclip.review.model import (
    IN_PROGRESS,
    InFlight,
    VideoEntry,
    list_videos,
    load_video,
    records_stat,
    set_aside_by_daemon,
)
from streamclip.review.state import PAGE_STAMP, read_state, remove_pages, write_state
from streamclip.storage import remote
from streamclip.storage.layout import clip_path, video_record_path
from streamclip.storage.workspace import write_atomic

REPORT_DIR = "report"
ASSETS = ("report.css", "report.js")
FFMPEG_AT_ONCE = 2
Step = Callable[[str], None]  # told the rel of each video as it is finished
ClipSource = Callable[[uuid.UUID], thumbs.Source]  # a clip id -> where its poster is grabbed from


@dataclass
class SiteCache:
    """What the daemon's live site keeps between builds (`LiveReport`), so that a build reads and
    writes what changed, not the whole output: each finished video's entry (without its curve),
    the index's rows and the state as last written."""

    entries: dict[str, tuple[str, VideoEntry]] = field(default_factory=dict)  # rel -> (records_stat, entry)
    index: IndexMemo = field(default_factory=IndexMemo)
    state: dict[str, str] | None = None


@dataclass
class ReportResult:
    root: Path
    videos: int = 0
    rebuilt: list[str] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.root / "index.html"


@functools.cache
def _environment() -> jinja2.Environment:
    """One for the process: its templates are compiled once, not at every live rebuild."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("streamclip.review", "templates"),
        autoescape=jinja2.select_autoescape(["html", "svg"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = _format_seconds
    return env


def _format_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 3600:
        return f"{int(value // 3600)}:{int(value % 3600 // 60):02d}:{value % 60:04.1f}"
    if value >= 60:
        return f"{int(value // 60)}:{value % 60:04.1f}"
    return f"{value:.2f} s"


def _template_version() -> str:
    """Pages are remade when the templates or assets change (a new streamclip)."""
    files = resources.files("streamclip.review").joinpath("templates")
    parts = sorted(f"{item.name}:{len(item.read_bytes())}" for item in files.iterdir() if item.is_file())
    return ",".join(parts)


async def build_report(
    out: Path,
    *,
    only: Iterable[str] | None = None,
    in_flight: Iterable[InFlight] = (),
    live: bool = False,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_step: Step | None = None,
    cache: SiteCache | None = None,
    clip_source: ClipSource | None = None,
) -> ReportResult:
    """Write OUT/report/: the index, and the page of each video whose inputs changed.

    `only` limits the pages considered to those rels (the index always lists every video);
    `in_flight` adds the videos the daemon is working on; `live` makes pages refresh themselves
    while videos are in flight. `on_start(n)` and `on_step(rel)` drive a progress display.
    `cache` (kept by the caller between builds, with `only` naming every video that changed since
    the last build, as the daemon does) makes a build read, render and write only those: the other
    videos are neither listed, stat'ed nor read again, and only the index's shards holding a
    changed row are written.
    `clip_source(uuid)` is what a poster is grabbed from (default: the file in OUT/clips/; the S3
    site passes the clip object's `s3://` URL, read through a presigned URL).
    """
    root = out / REPORT_DIR
    await children.demuxers_ready()  # thumbnails open inputs with the pipeline's whitelists
    flights = {flight.rel: flight for flight in in_flight}
    wanted = set(only) if only is not None else None
    entries = await asyncio.to_thread(_load, out, flights, cache, wanted)
    state = {} if force else dict(cache.state) if cache is not None and cache.state is not None else read_state(root)
    version = _template_version()
    todo = [e for e in entries if _wants_page(e, wanted, state, version, root)]
    if on_start is not None:
        on_start(len(todo))
    env = _environment()
    await asyncio.to_thread(_write_assets, root)
    limit = asyncio.Semaphore(FFMPEG_AT_ONCE)
    for entry in todo:
        media = await _media(out, root, entry, limit, clip_source)
        stamp = f"{version}/{entry.signature}"
        await asyncio.to_thread(_write_page, env, root, entry, media, live, stamp)
        state[entry.slug] = stamp
        if on_step is not None:
            on_step(entry.rel)
    await asyncio.to_thread(_finish, env, root, entries, state, live, cache)
    return ReportResult(root=root, videos=len(entries), rebuilt=[e.rel for e in todo])


def _wants_page(entry: VideoEntry, wanted: set[str] | None, state: dict[str, str], version: str, root: Path) -> bool:
    """Asked for (or in flight), and its inputs or the templates changed, or its page is missing."""
    if wanted is not None and entry.rel not in wanted and entry.status != IN_PROGRESS:
        return False
    made = state.get(entry.slug) == f"{version}/{entry.signature}"
    return not made or not (root / "videos" / f"{entry.slug}.html").is_file()


def _write_page(
    env: jinja2.Environment, root: Path, entry: VideoEntry, media: dict[str, Any], live: bool, stamp: str
) -> None:
    refresh = live and entry.status == IN_PROGRESS
    page = env.get_template("video.html").render(
        video=entry, chart=chart_of(entry), media=media, refresh=refresh, stamp_name=PAGE_STAMP, stamp=stamp
    )
    write_atomic(root / "videos" / f"{entry.slug}.html", page.encode())


def _load(
    out: Path, flights: dict[str, InFlight], cache: SiteCache | None, wanted: set[str] | None
) -> list[VideoEntry]:
    """Every video's entry: read from its records, or (a live build) the cached one of a video not
    named in `wanted`."""
    partial = cache is not None and bool(cache.entries) and wanted is not None
    if cache is not None and wanted is not None and partial:
        rels = sorted(set(cache.entries) | wanted | set(flights))
    else:
        rels = sorted(set(list_videos(out)) | set(flights))
    entries = []
    for rel in rels:
        cached = cache.entries.get(rel) if cache is not None and rel not in flights else None
        if partial and cached is not None and rel not in (wanted or ()):
            entries.append(cached[1])  # not named as changed: not even stat'ed
            continue
        if rel not in flights and not video_record_path(out, rel).is_file():
            if cache is not None:
                cache.entries.pop(rel, None)  # its record is gone (or it never had one): off the site
            continue
        key = records_stat(out, rel)
        if cached is not None and cached[0] == key and wanted is not None and rel not in wanted:
            entries.append(cached[1])
            continue
        entry = load_video(out, rel, flights.get(rel))
        if cache is not None and rel not in flights:  # the index needs no curve: 2 bytes a frame kept out
            cache.entries[rel] = (key, dataclasses.replace(entry, probabilities=None))
        entries.append(entry)
    known = {entry.source for entry in entries}
    return entries + set_aside_by_daemon(out, known)


async def _media(
    out: Path, root: Path, entry: VideoEntry, limit: asyncio.Semaphore, clip_source: ClipSource | None
) -> dict[str, Any]:
    """Relative (to the video page) paths of the strip, the posters, the previews and the clip files."""
    posters: dict[str, str] = {}
    clips: dict[str, str] = {}
    previews = {card.uuid: f"../../{card.preview}" for card in entry.clips if card.preview and card.written}
    for card in entry.clips:
        if not card.written:
            continue
        clips[card.uuid] = f"../../clips/{card.uuid}.mp4"
        target = root / "media" / "posters" / f"{card.uuid}.jpg"
        async with limit:
            clip_id = uuid.UUID(card.uuid)
            source = clip_source(clip_id) if clip_source is not None else clip_path(out, clip_id)
            if await thumbs.poster(source, card.duration_s, target):
                posters[card.uuid] = f"../media/posters/{card.uuid}.jpg"
    strip: list[tuple[float, str]] = []
    if entry.duration_s and entry.status != IN_PROGRESS:
        folder = root / "media" / entry.slug
        video: thumbs.Source = entry.source if remote.is_remote(entry.source) else Path(entry.source)
        made = await thumbs.strip(video, entry.duration_s, folder, limit)
        strip = [(t, f"../media/{entry.slug}/{f.name}") for t, f in made]
    return {"posters": posters, "clips": clips, "previews": previews, "strip": strip}


def _write_assets(root: Path) -> None:
    for name in ASSETS:
        data = resources.files("streamclip.review").joinpath("templates", name).read_bytes()
        target = root / "assets" / name
        if not target.is_file() or target.read_bytes() != data:
            write_atomic(target, data)


def _finish(
    env: jinja2.Environment,
    root: Path,
    entries: list[VideoEntry],
    state: dict[str, str],
    live: bool,
    cache: SiteCache | None,
) -> None:
    """Write the index and the state; remove what belonged to videos no longer in the output."""
    write_index(env, root, entries, live, cache.index if cache is not None else None)
    slugs = {e.slug for e in entries}
    kept = {slug: stamp for slug, stamp in state.items() if slug in slugs}
    if cache is None or cache.state != kept:
        write_state(root, kept)
    remove_pages(root, set(state) - slugs)  # a video no longer in the output: its page and strip go too
    if cache is not None:
        cache.state = kept
