"""One exception tree for everything streamclip raises on purpose."""

from __future__ import annotations

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
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no message"
        super().__init__(f"{self.argv[0]} {what}: {last}")


class ModelError(StreamclipError):
    """The shot detector could not be loaded or run."""


class ConfigError(StreamclipError):
    """A profile or setting is invalid; the message names the offending key."""
