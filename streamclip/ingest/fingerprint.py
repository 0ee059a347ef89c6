"""A content fingerprint that stays fast on huge files: the size and a sha256 of both ends.

Reading the first and the last MiB (not the whole file) keeps a 50 GB source at two reads. It is
enough to tell a changed or replaced video from the same one touched or copied: a video's header
and its index (the `moov` box of an MP4, at one end or the other) differ between different videos
of the same size. Two different files that agree in size, first MiB and last MiB get the same
fingerprint; that is the price of the speed.
"""

from __future__ import annotations

import hashlib
import os

EDGE_BYTES = 1 << 20


def fingerprint(path: str | os.PathLike[str], *, edge_bytes: int = EDGE_BYTES, size: int | None = None) -> str:
    """'<size>:<sha256 hex of size, first and last `edge_bytes`>' (blocking: run it in a thread).

    With `size`, the fingerprint the file had when it was `size` bytes long, if its first `size`
    bytes are still what they were (ValueError when it is shorter now).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        length = os.fstat(handle.fileno()).st_size
        if size is not None:
            if size > length:
                raise ValueError(f"{path} is {length} bytes long, not {size} or more")
            length = size
        digest.update(length.to_bytes(8, "little"))
        digest.update(handle.read(min(edge_bytes, length)))
        if length > edge_bytes:
            start = max(length - edge_bytes, edge_bytes)
            handle.seek(start)
            digest.update(handle.read(length - start))
    return f"{length}:{digest.hexdigest()}"


def begins_with(path: str | os.PathLike[str], content: str) -> bool:
    """Whether the file still begins with the content of fingerprint `content` (it only grew since;
    blocking)."""
    size, _, _ = content.partition(":")
    if not size.isdigit():
        return False
    try:
        return fingerprint(path, size=int(size)) == content
    except (OSError, ValueError):
        return False
