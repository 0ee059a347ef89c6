"""Names of the video records under OUT/processed_videos/: inside OUT, and one per source.

A source's `rel` names its record (`OUT/processed_videos/<rel>.json`). It must stay inside OUT
(no absolute path, no `..`), and two sources must never share a record: `split a/x.mp4 b/x.mp4`
names them `a/x.mp4` and `b/x.mp4`, and when a record of that name already belongs to another
source (two watched folders of the same name, or the API given the same `rel` twice) the new
one gets a short hash of its source path, `x.mp4~1a2b3c4d`, so both records are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

HASH_CHARS = 8


def check_rel(rel: str) -> str:
    """`rel` normalised (`/`-separated, no `.` parts); ValueError when it would leave OUT."""
    if not rel or "\x00" in rel:
        raise ValueError(f"rel {rel!r}: a record name must be a non-empty relative path")
    path = PurePosixPath(rel.replace(os.sep, "/"))
    if path.is_absolute():
        raise ValueError(f"rel {rel!r} is an absolute path: a record name must stay inside the output folder")
    parts = [part for part in path.parts if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"rel {rel!r} goes up with '..': a record name must stay inside the output folder")
    if not parts:
        raise ValueError(f"rel {rel!r}: a record name must name a file")
    return "/".join(parts)


def unique_rels(paths: Sequence[Path], rels: Sequence[str]) -> list[str]:
    """`rels` with every name that two different paths share made longer by their parent
    folders, until they differ (`x.mp4`, `x.mp4` -> `a/x.mp4`, `b/x.mp4`)."""
    out = list(rels)
    while shared := _shared(out):
        longer = {i: _one_folder_more(paths[i], out[i]) for i in shared}
        if all(longer[i] == out[i] for i in shared):  # at the filesystem root: a hash tells them apart
            return [f"{rel}~{source_hash(str(paths[i]))}" if i in longer else rel for i, rel in enumerate(out)]
        out = [longer.get(i, rel) for i, rel in enumerate(out)]
    return out


def record_name(out: Path, rel: str, source: str) -> str:
    """The record name for `source`: `rel`, or `rel~<hash>` when `rel`'s record is another source's."""
    owner = _record_owner(out / "processed_videos" / f"{rel}.json")
    return rel if owner in (None, source) else f"{rel}~{source_hash(source)}"


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:HASH_CHARS]


def _shared(rels: list[str]) -> list[int]:
    seen: defaultdict[str, list[int]] = defaultdict(list)
    for i, rel in enumerate(rels):
        seen[rel].append(i)
    return [i for indices in seen.values() if len(indices) > 1 for i in indices]


def _one_folder_more(path: Path, rel: str) -> str:
    """`rel` with the next folder above it in `path` in front (unchanged at the root)."""
    parts = Path(os.path.abspath(path)).parts
    depth = len(PurePosixPath(rel).parts)
    if depth >= len(parts) - 1:
        return rel
    return f"{parts[-depth - 1]}/{rel}"


def _record_owner(record: Path) -> str | None:
    """The source a record belongs to (its "video" field); None when there is no readable record."""
    try:
        video = json.loads(record.read_bytes()).get("video")
    except (OSError, ValueError, AttributeError):
        return None
    return video if isinstance(video, str) else None
