"""The review site's index: a small page, and every video's row in one of `SHARDS` scripts.

    OUT/report/index.html       the totals, the filter, the table and its pages (drawn by assets/report.js)
    OUT/report/index/NN.js      the rows of the videos whose slug falls in shard NN

A video's shard is fixed by its slug, so a changed video rewrites its shard alone (a 64th of the
rows), and the page stays quick at 20,000 videos and more: the browser sorts and filters every row
but draws one page of them. Scripts (not JSON files) so that the site still opens from disk
(`file://` pages may not fetch files); the rows are JSON with `<`, `>` and `&` escaped, and the
page writes them as text, never as HTML.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from streamclip.review.model import IN_PROGRESS, VideoEntry
from streamclip.storage.workspace import write_atomic

SHARDS = 64
FOLDER = "index"
Row = list[Any]


@dataclass
class IndexMemo:
    """What the last index build wrote (kept by the daemon's live site between builds)."""

    rows: dict[str, tuple[str, Row]] = field(default_factory=dict)  # slug -> (the entry's signature, its row)
    shards: dict[int, dict[str, Row]] = field(default_factory=dict)  # shard -> slug -> row


def shard_of(slug: str) -> int:
    """A slug ends in 8 hex digits of a hash of its video's rel."""
    try:
        return int(slug[-8:], 16) % SHARDS
    except ValueError:
        return 0


def shard_names() -> list[str]:
    return [f"{FOLDER}/{n:02d}.js" for n in range(SHARDS)]


def row_of(entry: VideoEntry) -> Row:
    """rel, slug, status, duration (s), clips written, clips, pieces dropped, processing (s), reason."""
    return [
        entry.rel, entry.slug, entry.status, entry.duration_s or 0.0, entry.clips_written, len(entry.clips),
        len(entry.dropped_pieces), entry.processing_s or 0.0, entry.reason,
    ]  # fmt: skip


def write_index(
    env: jinja2.Environment, root: Path, entries: list[VideoEntry], live: bool, memo: IndexMemo | None
) -> None:
    """Write the shards whose rows changed since `memo` (all of them without one), then the page."""
    memo = memo if memo is not None else IndexMemo()
    fresh = not memo.shards
    changed = set(range(SHARDS)) if fresh else set()
    seen = set()
    for entry in entries:
        seen.add(entry.slug)
        known = memo.rows.get(entry.slug)
        if known is not None and known[0] == entry.signature and entry.signature:
            continue  # made from the same files as last time
        row = row_of(entry)
        memo.rows[entry.slug] = (entry.signature, row)
        shard = shard_of(entry.slug)
        if memo.shards.setdefault(shard, {}).get(entry.slug) != row:
            memo.shards[shard][entry.slug] = row
            changed.add(shard)
    for slug in set(memo.rows) - seen:
        del memo.rows[slug]
        shard = shard_of(slug)
        memo.shards.get(shard, {}).pop(slug, None)
        changed.add(shard)
    for shard in sorted(changed):
        _write_if_changed(root / FOLDER / f"{shard:02d}.js", _script(memo.shards.get(shard, {})))
    refresh = live and any(e.status == IN_PROGRESS for e in entries)
    page = env.get_template("index.html").render(
        count=len(entries), shards=shard_names(), refresh=refresh, generated=time.strftime("%Y-%m-%d %H:%M:%S")
    )
    write_atomic(root / "index.html", page.encode())


def _script(rows: dict[str, Row]) -> bytes:
    data = json.dumps([rows[slug] for slug in sorted(rows)], separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"(window.streamclipRows = window.streamclipRows || []).push({data});\n".encode()


def _write_if_changed(path: Path, data: bytes) -> None:
    """Unchanged files keep their time: the S3 site uploads only what changed."""
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    write_atomic(path, data)
