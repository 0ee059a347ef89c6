"""One exception tree for everything streamclip raises on purpose, and the kinds of failure.

Every failure carries a `Reason` *kind*, set where it is raised (where the cause is known); the
message is for people, the kind for code: metrics labels, the ledger and quarantine read the kind.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

from streamclip.sources import scrub


class Reason(enum.StrEnum):
    """Why a video or clip failed: a small fixed set (metric label values, ledger `kind` column)."""

    MISSING = "missing"  # the file is not there (or vanished before it was finished)
    EMPTY = "empty"
    PERMISSION = "permission"  # the source cannot be read
    NOT_A_VIDEO = "not_a_video"
    NO_VIDEO_STREAM = "no_video_stream"
    UNUSABLE_STREAM = "unusable_stream"  # zero frame rate, no duration, no frame size
    INCOMPLETE = "incomplete"  # truncated, or still being written
    DECODE_ERROR = "decode_error"  # the decoder failed part-way
    ENCODE_ERROR = "encode_error"  # an encoder failed on a clip
    TIMEOUT = "timeout"  # a child hung and was killed
    OUTPUT_IO = "output_io"  # writing the output failed (disk full, no permission, ...)
    MISSING_TOOL = "missing_tool"  # ffmpeg/ffprobe not found or not runnable
    TOOL_ERROR = "tool_error"  # ffprobe/ffmpeg failed for another reason
    WORKER_LOST = "worker_lost"  # a Ray worker died while holding the video
    CRASH_LOOP = "crash_loop"  # the daemon died on this file again and again
    UNREACHABLE = "unreachable"  # a live source refused the connection, or could not be opened
    SPOOL_FULL = "spool_full"  # a live source's spool reached live.spool_max_mb (the pipeline fell behind)
    SOURCE_CHANGED = "source_changed"  # a followed (growing) file was truncated or replaced while read
    STAGE_ERROR = "stage_error"  # a curation stage after the split failed on a clip (streamclip.stages)
    OTHER = "other"


# Kinds that say the *file* is bad: the daemon quarantines these; the others are `failed` and
# tried again at the next start (a full disk or a missing tool is not the file's fault).
BAD_INPUT = frozenset({
    Reason.MISSING, Reason.EMPTY, Reason.PERMISSION, Reason.NOT_A_VIDEO, Reason.NO_VIDEO_STREAM,
    Reason.UNUSABLE_STREAM, Reason.INCOMPLETE, Reason.CRASH_LOOP,
})  # fmt: skip


class StreamclipError(Exception):
    """Base of every error streamclip raises deliberately."""

    kind: Reason = Reason.OTHER


class SourceError(StreamclipError):
    """A source video cannot be used; the message says why in words a person can act on."""

    def __init__(self, path: str, reason: str, kind: Reason = Reason.NOT_A_VIDEO) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.kind = kind


class MissingToolError(StreamclipError):
    """ffmpeg or ffprobe is not installed, or cannot be run."""

    kind = Reason.MISSING_TOOL


class FFmpegError(StreamclipError):
    """An ffmpeg/ffprobe child failed, timed out or was killed."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stderr_tail: str,
        *,
        timed_out: bool = False,
        kind: Reason | None = None,
    ) -> None:
        self.argv = [scrub(arg) for arg in argv]  # a signed input URL is a secret
        self.returncode = returncode
        self.stderr_tail = scrub(stderr_tail)
        self.timed_out = timed_out
        self.kind = kind or (Reason.TIMEOUT if timed_out else Reason.TOOL_ERROR)
        what = "timed out and was killed" if timed_out else f"exited with status {returncode}"
        super().__init__(f"{self.argv[0]} {what}: {stderr_summary(self.stderr_tail)}")


# ffmpeg's closing lines after the real error ("Error while opening encoder ... maybe incorrect
# parameters"): they say that something failed, the line before them says what.
_CONSEQUENCES = ("Error initializing output stream", "Conversion failed", "Error opening output file")
_LOG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\] ")


def stderr_summary(stderr: str) -> str:
    """The line of ffmpeg's stderr that says what went wrong, without its `[codec @ 0x…]` prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(_CONSEQUENCES)] or lines
    return _LOG_PREFIX.sub("", causes[-1]) if causes else "no message"


# strerror texts of the errors that mean "the output cannot be written" (ffmpeg reports them on
# stderr only, so a child's failure is classified by them where the child is run).
_OUTPUT_ERRNO_TEXTS = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def output_failed(stderr: str) -> bool:
    """ffmpeg's stderr says that writing its output failed (disk full, quota, read-only)."""
    return any(text in stderr for text in _OUTPUT_ERRNO_TEXTS)


class ModelError(StreamclipError):
    """The shot detector could not be loaded or run."""


class UsageError(StreamclipError):
    """A command-line argument cannot be used (e.g. an output folder that cannot be written)."""


class ConfigError(StreamclipError):
    """A profile or setting is invalid; the message names the offending key."""


class ClusterJoinError(StreamclipError):
    """A Ray cluster could not be joined; the message names the address and the cause (CLI exit 2)."""
