"""The daemon's side of followed (growing) files: which content a finished one stands for, and
when a changed one is a file that grew again rather than another file.

A followed file is handed on while it is written and read until it stops growing; the watcher
then sees it settle at the size it was read to. Recording that size, mtime and fingerprint in the
ledger when the file is finished makes that look a no-op, while a file that grows again later
(a recording resumed) differs and is processed again, from the start: its clips up to where it
was read have the same ids (uuid5 of path and span) and are reused, not encoded again. Only the
clip of the scene that was open where the file ended changes; the earlier, shorter one stays.
A file that does not begin with what was read (replaced, or written again in place) is not one
that grew: its clips are removed, as for any changed source (clip ids come from the path and the
spans, so an old clip would otherwise stand for the new content).
"""

from __future__ import annotations

import os

from streamclip.errors import Reason
from streamclip.ingest.fingerprint import begins_with, fingerprint
from streamclip.ingest.ledger import SourceRecord
from streamclip.ingest.watcher import Candidate


def read_to(path: str) -> tuple[int, int, str]:
    """(size, mtime_ns, fingerprint) of a file now (blocking: run it in a thread)."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, fingerprint(path)


def grew_again(row: SourceRecord, candidate: Candidate, settings_hash: str, *, follow: bool) -> bool:
    """With `follow`: a finished source, same settings, now longer, whose first bytes are still the
    content its row stands for: it grew again, and its clips so far are still its clips (kept,
    reused). A source whose reading saw it change (`source_changed`), or whose beginning is not what
    was read (a file replaced, or written again in place), is another content: its clips are
    outdated. Blocking (reads the file's ends): run it in a thread."""
    finished = row.state in ("done", "failed") and row.kind != Reason.SOURCE_CHANGED
    if not (follow and finished and row.settings_hash == settings_hash and candidate.size > row.size):
        return False
    return begins_with(candidate.path, row.fingerprint)
