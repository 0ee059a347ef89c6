"""Which file, if any, `serve` answers a URL path with: the review site and the clip files only.

    /                    OUT/report/index.html
    /clips/<uuid>.mp4    OUT/clips/<uuid>.mp4 (the pages link to ../../clips/, which lands here)
    /<path>              OUT/report/<path>

The path is percent-decoded once; a `..`, `.` or hidden segment, a backslash or a NUL is refused,
only the site's own kinds of file are served, and the resolved file (symbolic links followed)
must lie inside OUT/report or OUT/clips. Anything else is None, which the server answers with 404.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from streamclip.review.site import REPORT_DIR

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".jpg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".mp4": "video/mp4",
}
_CLIP_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.mp4")


def resolve_request(out: Path, url_path: str) -> tuple[Path, str] | None:
    """(file, content type) for a request path, or None when nothing may be served for it."""
    try:
        path = unquote(url_path.split("?", 1)[0].split("#", 1)[0], errors="strict")
    except UnicodeDecodeError:
        return None
    if not path.startswith("/") or "\\" in path or "\x00" in path:
        return None
    parts = [part for part in path.split("/")[1:] if part]
    if any(part.startswith(".") for part in parts):
        return None  # "..", "." and hidden files such as .state.json
    if not parts:
        root, parts = out / REPORT_DIR, ["index.html"]
    elif parts[0] == "clips" and len(parts) == 2 and _CLIP_NAME.fullmatch(parts[1]):
        root, parts = out / "clips", parts[1:]
    else:
        root = out / REPORT_DIR
    kind = CONTENT_TYPES.get(Path(parts[-1]).suffix)
    if kind is None:
        return None
    try:
        base = root.resolve(strict=True)
        file = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not file.is_relative_to(base) or not file.is_file():
        return None
    return file, kind


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(head: bytes, size: int) -> tuple[int, int] | None:
    """`[start, end)` of a satisfiable single `Range: bytes=...` in a request head, else None.

    None means "send the whole file" (a server may ignore a range it does not like); browsers ask
    for ranges to seek in a `<video>`.
    """
    lines = head.decode("latin-1").split("\r\n")[1:]
    value = next((line.split(":", 1)[1] for line in lines if line.lower().startswith("range:")), "")
    match = _RANGE.fullmatch(value.strip())
    if match is None or size == 0:
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        return (max(size - int(last), 0), size) if last and int(last) > 0 else None
    start, end = int(first), min(int(last) + 1 if last else size, size)
    return (start, end) if start < end else None
