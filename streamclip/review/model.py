"""What the review site shows, read back from an output folder (nothing here writes).

A video is known by its record `OUT/processed_videos/<rel>.json`, by being in flight (in the
daemon), or by the daemon's ledger when it set the file aside before processing it.
`OUT/decisions/<rel>.json` and `.probs.npy` add the curve, scenes and dropped ranges, and each
clip's `OUT/metas/v0/<uuid>.json` says whether it was written. Each video gets a signature over the
files it is built from, so a second run only redoes the videos whose inputs changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamclip.contract.decisions import decisions_path, probabilities_path
from streamclip.storage.layout import clip_error_messages, clip_path, meta_path, video_record_path

log = logging.getLogger(__name__)

IN_PROGRESS = "in progress"


@dataclass(frozen=True)
class InFlight:
    """A video the daemon is working on: no record yet, only the clips written so far."""

    rel: str
    source: str
    clip_ids: tuple[str, ...] = ()


@dataclass
class ClipCard:
    index: int
    uuid: str
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    written: bool  # the clip file is in OUT/clips/
    error: str = ""
    dropped: str = ""  # "<stage>: <reason>" when a curation stage dropped it (it has no file, by design)
    preview: str = ""  # its animated WebP, relative to OUT (the preview stage's meta field), "" if none
    near_duplicate_of: str = ""  # the uuid of the earlier clip it repeats (the dedup stage's flag)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class VideoEntry:
    rel: str
    slug: str
    source: str
    status: str  # done, failed, in progress, or quarantined (by the daemon, before any processing)
    reason: str = ""
    duration_s: float | None = None
    fps: float | None = None
    num_frames: int | None = None
    processing_s: float | None = None
    mode: str | None = None
    threshold: float | None = None
    rules: dict[str, Any] = field(default_factory=dict)
    clips: list[ClipCard] = field(default_factory=list)
    scenes: list[dict[str, Any]] = field(default_factory=list)
    cuts: list[dict[str, Any]] = field(default_factory=list)
    splits: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    probabilities: npt.NDArray[np.float16] | None = None
    signature: str = ""

    @property
    def dropped_pieces(self) -> list[dict[str, Any]]:
        """Pieces and scenes dropped whole (the crop margins of kept clips left out)."""
        return [d for d in self.dropped if not d.get("margin")]

    @property
    def clips_written(self) -> int:
        return sum(card.written for card in self.clips)


def slug_of(rel: str) -> str:
    """A file name for a video's page: readable, unique (a hash of `rel`), no path separators."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", rel).strip("._")[:60] or "video"
    return f"{readable}-{hashlib.sha1(rel.encode()).hexdigest()[:8]}"


_SLUG = re.compile(r"[A-Za-z0-9-][A-Za-z0-9._-]{0,59}-[0-9a-f]{8}")


def is_slug(text: str) -> bool:
    """Whether `text` has the shape of a `slug_of` (no separator, no leading dot: never `..`)."""
    return _SLUG.fullmatch(text) is not None


def list_videos(out: Path) -> list[str]:
    """The `rel` of every video record in OUT/processed_videos/, sorted."""
    root = out / "processed_videos"
    if not root.is_dir():
        return []
    rels = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rels += [
            str((Path(folder) / name).relative_to(root))[: -len(".json")]
            for name in files
            if name.endswith(".json") and not name.startswith(".")
        ]
    return sorted(rels)


def load_video(out: Path, rel: str, in_flight: InFlight | None = None) -> VideoEntry:
    """Everything the pages show about one video."""
    record = _read_json(video_record_path(out, rel)) if in_flight is None else {}
    decisions = _read_json(decisions_path(out, rel)) if in_flight is None else {}
    source = str(record.get("video") or decisions.get("source") or (in_flight.source if in_flight else rel))
    entry = VideoEntry(rel=rel, slug=slug_of(rel), source=source, status=IN_PROGRESS)
    if in_flight is None:
        _fill_from_records(entry, record, decisions)
        entry.probabilities = _read_probabilities(out, rel) if decisions.get("probabilities") else None
        entry.clips = [_card(out, clip) for clip in decisions.get("clips", [])]
    else:
        entry.clips = _cards_in_flight(out, in_flight.clip_ids)
    entry.signature = _signature(out, entry, in_flight)
    return entry


def _fill_from_records(entry: VideoEntry, record: dict[str, Any], decisions: dict[str, Any]) -> None:
    meta = record.get("metadata") or {}
    errors: dict[str, str] = record.get("errors") or {}
    entry.status = str(record.get("status") or decisions.get("status") or "done")
    entry.reason = errors.get("video") or decisions.get("error") or "; ".join(errors.values())
    entry.duration_s = decisions.get("duration_s", meta.get("duration_s", record.get("duration")))
    entry.fps = decisions.get("fps", meta.get("fps", record.get("framerate")))
    entry.num_frames = decisions.get("num_frames", meta.get("num_frames", record.get("num_frames")))
    entry.processing_s = decisions.get("processing_s")
    if entry.processing_s is None and record.get("timings_s"):
        entry.processing_s = float(sum(record["timings_s"].values()))
    entry.mode = decisions.get("mode")
    entry.threshold = decisions.get("threshold")
    entry.rules = decisions.get("rules") or {}
    for name in ("scenes", "cuts", "splits", "dropped"):
        setattr(entry, name, decisions.get(name) or [])


def _card(out: Path, clip: dict[str, Any]) -> ClipCard:
    meta = _read_json(meta_path(out, uuid.UUID(clip["uuid"])))
    errors = clip_error_messages(meta)
    return ClipCard(
        index=clip["index"],
        uuid=clip["uuid"],
        start_s=clip["start_s"],
        end_s=clip["end_s"],
        start_frame=clip["start_frame"],
        end_frame=clip["end_frame"],
        written=clip_path(out, uuid.UUID(clip["uuid"])).is_file(),
        error="; ".join(f"{k}: {v}" if v else k for k, v in errors.items()),
        dropped=f"{meta['dropped_by']}: {meta.get('drop_reason') or ''}" if meta.get("dropped_by") else "",
        preview=preview_of(out, clip["uuid"], meta),
        near_duplicate_of=str(meta.get("near_duplicate_of") or ""),
    )


# What the preview stage names (`streamclip.stages.preview.preview_name`); anything else in a meta
# is not linked from a page.
_PREVIEW = re.compile(r"previews/(?P<uuid>[0-9a-f-]{36})/[0-9]+_[0-9]+\.webp")


def preview_of(out: Path, clip_id: str, meta: dict[str, Any]) -> str:
    """The clip's preview path relative to OUT, when its meta names one of its own that exists."""
    name = meta.get("preview")
    if not isinstance(name, str):
        return ""
    found = _PREVIEW.fullmatch(name)
    if found is None or found["uuid"] != clip_id or not (out / name).is_file():
        return ""
    return name


def _cards_in_flight(out: Path, clip_ids: tuple[str, ...]) -> list[ClipCard]:
    cards = []
    for clip_id in clip_ids:
        meta = _read_json(meta_path(out, uuid.UUID(clip_id)))
        if not meta:
            continue
        start_s, end_s = meta.get("duration_span") or (0.0, 0.0)
        start_frame, end_frame = meta.get("frame_span") or (0, 0)
        clip = {"index": meta.get("clip_index", 0), "uuid": clip_id, "start_s": start_s, "end_s": end_s,
                "start_frame": start_frame, "end_frame": end_frame}  # fmt: skip
        cards.append(_card(out, clip))
    return sorted(cards, key=lambda card: card.index)


def _signature(out: Path, entry: VideoEntry, in_flight: InFlight | None) -> str:
    """A hash of the stats of every file the video's page is made from."""
    files = [video_record_path(out, entry.rel), decisions_path(out, entry.rel), probabilities_path(out, entry.rel)]
    for card in entry.clips:
        files += [meta_path(out, uuid.UUID(card.uuid)), clip_path(out, uuid.UUID(card.uuid))]
        files += [out / card.preview] if card.preview else []
    # named relative to OUT, so a copy of the records elsewhere (the S3 site's cache) signs the same
    parts = [entry.status, *(_stat(path, out) for path in files), _stat(Path(entry.source))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def records_stat(out: Path, rel: str) -> str:
    """The stats of a video's record and decisions: unchanged means a finished video is the same."""
    return _stat(video_record_path(out, rel)) + "|" + _stat(decisions_path(out, rel))


def _stat(path: Path, out: Path | None = None) -> str:
    name = path.relative_to(out) if out is not None else path
    try:
        st = path.stat()
    except OSError:
        return f"{name}:-"
    return f"{name}:{st.st_size}:{st.st_mtime_ns}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("review: cannot read %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _read_probabilities(out: Path, rel: str) -> npt.NDArray[np.float16] | None:
    try:
        values: npt.NDArray[np.float16] = np.load(probabilities_path(out, rel), allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("review: cannot read the probabilities of %s: %s", rel, exc)
        return None
    return values


def set_aside_by_daemon(out: Path, known_sources: set[str]) -> list[VideoEntry]:
    """Files the daemon failed or quarantined without a record in OUT (e.g. not a video at all).

    Read from its ledger, OUT/.streamclip/ledger.sqlite, when there is one.
    """
    from streamclip.ingest.config import default_ledger  # the ingest package imports this one
    from streamclip.ingest.ledger import Ledger

    try:
        ledger = Ledger(default_ledger(out), create=False)
    except (OSError, sqlite3.Error):
        return []
    try:
        with ledger:
            rows = ledger.records("quarantined", "failed")
    except sqlite3.Error as exc:
        log.warning("review: cannot read the ledger of %s: %s", out, exc)
        return []
    entries = []
    for row in rows:
        if row.path in known_sources:
            continue
        reason = f"{row.error} ({row.note})" if row.note else row.error
        entry = VideoEntry(rel=row.path, slug=slug_of(row.path), source=row.path, status=row.state, reason=reason)
        entry.signature = hashlib.sha256(f"{row.state}:{row.updated_at}:{reason}".encode()).hexdigest()[:16]
        entries.append(entry)
    return entries
