"""What flows between the actors. Every item carries its video's `VideoJob`, so one set of
actors serves many videos at once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streamclip.contract.decisions import SceneDecisions
from streamclip.contract.types import Clip, Span, VideoMetadata
from streamclip.errors import BAD_INPUT, Reason

if TYPE_CHECKING:
    from streamclip.live.session import LiveSession


@dataclass(eq=False)
class VideoJob:
    """One submitted video and what the actors learn about it on the way."""

    id: int
    source: str  # absolute path; part of every clip id
    rel: str  # name under OUT/processed_videos/ (relative to the input root)
    follow_idle_s: float | None = None  # a growing file, read as it grows until idle this long
    seek_back_s: float = 0.0  # clips are cut seeking this far before their span (see live.follow)
    submitted_at: float = field(default_factory=time.monotonic)
    meta: VideoMetadata | None = None
    stop_decoding: asyncio.Event = field(default_factory=asyncio.Event)
    frames_decoded: int = 0
    spans_made: int = 0
    clips_done: int = 0
    clips_failed: int = 0
    clips_dropped: int = 0  # by a curation stage (streamclip.stages)
    stage_drops: list[StageDrop] = field(default_factory=list)  # each, for OUT/decisions/ (in arrival order)
    errors: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    note: str = ""
    # What the span builder (SceneDecisions) or stride spanner (a finished record) decided, for
    # OUT/decisions/ (streamclip.contract.decisions).
    decisions: SceneDecisions | dict[str, object] | None = None
    live: LiveSession | None = None  # a source read once (stdin, a network stream): its reader and spool

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings_s[stage] = self.timings_s.get(stage, 0.0) + seconds

    @property
    def fps(self) -> float:
        assert self.meta is not None, "fps is known only after probing"
        return self.meta.fps


@dataclass(frozen=True)
class StageDrop:
    """A clip a curation stage dropped: what the decisions file says of it (no frames, no bytes)."""

    index: int
    span: Span
    stage: str
    reason: str
    fields: dict[str, object]


@dataclass(frozen=True, eq=False)
class FrameChunk:
    job: VideoJob
    first_frame: int
    frames: npt.NDArray[np.uint8]  # [n, 27, 48, 3] RGB


@dataclass(frozen=True, eq=False)
class ProbChunk:
    job: VideoJob
    first_frame: int
    probabilities: npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class SpanItem:
    job: VideoJob
    index: int
    span: Span


@dataclass(frozen=True, eq=False)
class ClipItem:
    job: VideoJob
    clip: Clip
    scratch_path: str | None  # the encoded file while it is still in the work folder
    reused: bool = False  # an identical finished clip was already in the output folder


@dataclass(frozen=True, eq=False)
class VideoEnd:
    """No more items of this video follow. `error` set means the video failed at that point."""

    job: VideoJob
    error: str | None = None
    kind: Reason = Reason.OTHER  # why, when `error` is set

    @property
    def error_type(self) -> str:
        """The older, coarser name of the kind: 'SourceError' for a bad file, else 'FFmpegError'."""
        return "SourceError" if self.kind in BAD_INPUT else "FFmpegError"
