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


def fingerprint(path: str | os.PathLike[str], *, edge_bytes: int = EDGE_BYTES) -> str:
    """'<size>:<sha256 hex of size, first and last `edge_bytes`>' (blocking: run it in a thread)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        digest.update(size.to_bytes(8, "little"))
        digest.update(handle.read(edge_bytes))
        if size > edge_bytes:
            handle.seek(max(size - edge_bytes, edge_bytes))
            digest.update(handle.read(edge_bytes))
    return f"{size}:{digest.hexdigest()}"
