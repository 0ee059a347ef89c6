"""Values that cross channels, files and the public API (msgspec Structs, frozen, keyword-only)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from streamclip.errors import Reason

FrameArray = npt.NDArray[np.uint8]


class VideoMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """What ffprobe says about a source video (its first video stream)."""

    path: str
    size: int
    width: int
    height: int
    fps: float
    num_frames: int
    duration_s: float
    video_codec: str
    pixel_format: str
    audio_codec: str | None = None
    bit_rate_k: int | None = None
    rotation: int = 0

    @property
    def is_10_bit(self) -> bool:
        """True for high-bit-depth pixel formats (yuv420p10le, p010le, …), which need an 8-bit encode."""
        fmt = self.pixel_format
        return any(tag in fmt for tag in ("10le", "10be", "12le", "12be", "p010", "p016"))


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """A clip's place in its source: frames `[start_frame, end_frame)` and the same in seconds."""

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if self.end_frame < self.start_frame or self.end_s < self.start_s:
            raise ValueError(f"span ends before it starts: {self}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @classmethod
    def from_frames(cls, start_frame: int, end_frame: int, fps: float) -> Span:
        return cls(
            start_frame=start_frame,
            end_frame=end_frame,
            start_s=start_frame / fps,
            end_s=end_frame / fps,
        )


class EncodedClipInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ffprobe says about an encoded clip."""

    width: int
    height: int
    framerate: float
    num_frames: int
    duration_s: float
    video_codec: str
    num_bytes: int

    @classmethod
    def from_metadata(cls, meta: VideoMetadata) -> EncodedClipInfo:
        """The encoded clip's facts from a probe of the clip file."""
        return cls(
            width=meta.width,
            height=meta.height,
            framerate=meta.fps,
            num_frames=meta.num_frames,
            duration_s=meta.duration_s,
            video_codec=meta.video_codec,
            num_bytes=meta.size,
        )


class Clip(msgspec.Struct, kw_only=True):
    """One clip of a source video: its identity, span, encoded bytes or file, and sampled frames.

    After the split, curation stages (`streamclip.stages`) may add `fields` (merged into the clip's
    meta) and drop the clip (`drop_reason`, `dropped_by`): a dropped clip is final like any other
    (it comes as a `ClipReady`, its meta is written) but its file is not kept; `kept` says which.
    """

    uuid: uuid.UUID
    source: str
    index: int
    span: Span
    buffer: bytes | None = None
    path: str | None = None
    encoded: EncodedClipInfo | None = None
    frames: dict[str, FrameArray] = msgspec.field(default_factory=dict)
    errors: dict[str, str] = msgspec.field(default_factory=dict)
    failure_kind: Reason | None = None  # the kind of the first error
    fields: dict[str, Any] = msgspec.field(default_factory=dict)  # what stages added, merged into the meta
    stages: list[str] = msgspec.field(default_factory=list)  # the stages that processed it, in order
    counters: list[str] = msgspec.field(default_factory=list)  # ClipStats counters its stages added 1 to
    dropped_by: str | None = None  # the stage that filtered it out
    drop_reason: str | None = None  # why, in words (the clip is final; its file is not kept)
    files: dict[str, bytes] = msgspec.field(default_factory=dict)  # stages' extra outputs, without an output folder

    @property
    def ok(self) -> bool:
        """No stage failed on it (a clip dropped by a curation stage is ok, but not `kept`)."""
        return not self.errors

    @property
    def kept(self) -> bool:
        """Encoded without error and not dropped by a curation stage: its file is in the output."""
        return not self.errors and self.drop_reason is None

    def fail(self, stage: str, message: str, kind: Reason) -> None:
        """Record that `stage` failed on this clip (the first failure's kind is kept)."""
        self.errors[stage] = message
        if self.failure_kind is None:
            self.failure_kind = kind


class ClipStats(msgspec.Struct, kw_only=True):
    """NeMo Curator's per-run clip counters, combinable across videos."""

    num_filtered_by_motion: int = 0
    num_filtered_by_aesthetic: int = 0
    num_filtered: int = 0  # streamclip's: clips dropped by any curation stage (those above included)
    num_passed: int = 0  # clips kept
    num_transcoded: int = 0
    num_with_embeddings: int = 0
    num_with_caption: int = 0
    num_with_webp: int = 0
    total_clip_duration: float = 0.0
    max_clip_duration: float = 0.0

    def combine(self, other: ClipStats) -> ClipStats:
        """Sum the counters and durations; keep the longer maximum."""
        return ClipStats(
            num_filtered_by_motion=self.num_filtered_by_motion + other.num_filtered_by_motion,
            num_filtered_by_aesthetic=self.num_filtered_by_aesthetic + other.num_filtered_by_aesthetic,
            num_filtered=self.num_filtered + other.num_filtered,
            num_passed=self.num_passed + other.num_passed,
            num_transcoded=self.num_transcoded + other.num_transcoded,
            num_with_embeddings=self.num_with_embeddings + other.num_with_embeddings,
            num_with_caption=self.num_with_caption + other.num_with_caption,
            num_with_webp=self.num_with_webp + other.num_with_webp,
            total_clip_duration=self.total_clip_duration + other.total_clip_duration,
            max_clip_duration=max(self.max_clip_duration, other.max_clip_duration),
        )


class ClipReady(msgspec.Struct, frozen=True, kw_only=True):
    """A clip is final (encoded, frames sampled, through the curation stages, written when there is
    an output folder). Every clip comes once: `clip.kept` for one in the output, `clip.ok` false
    for one that failed (its `errors`), `clip.drop_reason` for one a curation stage dropped."""

    clip: Clip
    elapsed_s: float


class VideoDone(msgspec.Struct, frozen=True, kw_only=True):
    """Every clip of a video has been emitted."""

    source: str
    num_clips: int
    num_failed_clips: int
    metadata: VideoMetadata | None
    stats: ClipStats
    timings_s: dict[str, float]
    elapsed_s: float
    errors: dict[str, str] = msgspec.field(default_factory=dict)
    note: str = ""


class VideoFailed(msgspec.Struct, frozen=True, kw_only=True):
    """A video could not be (fully) processed; clips emitted before the failure stay valid."""

    source: str
    reason: str
    num_clips: int
    elapsed_s: float
    error_type: str = "SourceError"  # "SourceError" for a bad file, else the tool's; see `kind`
    kind: Reason = Reason.OTHER


Event = ClipReady | VideoDone | VideoFailed

__all__ = [
    "Clip",
    "ClipReady",
    "ClipStats",
    "EncodedClipInfo",
    "Event",
    "FrameArray",
    "Span",
    "VideoDone",
    "VideoFailed",
    "VideoMetadata",
]
