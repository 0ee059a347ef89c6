"""One exception tree for everything streamclip raises on purpose."""

from __future__ import annotations

import re
from collections.abc import Sequence


class StreamclipError(Exception):
    """Base of every error streamclip raises deliberately."""


class SourceError(StreamclipError):
    """A source video cannot be used; the message says why in words a person can act on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class FFmpegError(StreamclipError):
    """An ffmpeg/ffprobe child failed, timed out or was killed."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stderr_tail: str,
        *,
        timed_out: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.timed_out = timed_out
        what = "timed out and was killed" if timed_out else f"exited with status {returncode}"
        super().__init__(f"{self.argv[0]} {what}: {stderr_summary(stderr_tail)}")


# ffmpeg's closing lines after the real error ("Error while opening encoder ... maybe incorrect
# parameters"): they say that something failed, the line before them says what.
_CONSEQUENCES = ("Error initializing output stream", "Conversion failed", "Error opening output file")
_LOG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\] ")


def stderr_summary(stderr: str) -> str:
    """The line of ffmpeg's stderr that says what went wrong, without its `[codec @ 0x…]` prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(_CONSEQUENCES)] or lines
    return _LOG_PREFIX.sub("", causes[-1]) if causes else "no message"


class ModelError(StreamclipError):
    """The shot detector could not be loaded or run."""


class ConfigError(StreamclipError):
    """A profile or setting is invalid; the message names the offending key."""


class ClusterJoinError(StreamclipError):
    """A Ray cluster could not be joined; the message names the address and the cause (CLI exit 2)."""
