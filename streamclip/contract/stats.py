"""Typed statistics: one msgspec Struct per actor kind, the same from the local pipeline and from Ray.

`Pipeline.statistics()` and `RayPipeline.statistics()` both return a `PipelineStats`; on Ray it is
the sum of its workers' (`combine`), so the progress bars, the daemon's metrics and benchmarks
read the same fields either way. Actors report their counters as a dict (`Actor.statistics()`);
`pipeline_stats` converts each, strictly, into its kind's Struct: a counter an actor adds without
a field here is an error in the tests, not a silently dropped figure.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import msgspec

from streamclip.runtime.channel import ChannelStats

_STATS = {"frozen": True, "kw_only": True, "forbid_unknown_fields": True}


class ActorStats(msgspec.Struct, **_STATS):
    """What every actor counts (a pool also its workers and items in hand)."""

    name: str = ""
    items_in: int = 0
    items_out: int = 0
    busy_s: float = 0.0
    receive_blocked_s: float = 0.0
    send_blocked_s: float = 0.0
    workers: int = 1
    in_flight: int = 0


class DecoderStats(ActorStats, **_STATS):
    frames_decoded: int = 0
    videos: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)  # source -> (decoded, expected)
    # Live sources (stdin, streams; streamclip.live): the worst lag behind live now, in seconds (now
    # minus when the newest decoded frame's spool segment was complete on disk), and their spools.
    live_sources: int = 0
    lag_s: float = 0.0
    spool_bytes: int = 0
    spool_peak_bytes: int = 0
    scenes_cut_at_spool_limit: int = 0


class DetectorStats(ActorStats, **_STATS):
    batches: int = 0
    windows: int = 0
    mean_batch: float = 0.0
    max_videos_in_batch: int = 0
    forward_s: float = 0.0
    pending: int = 0
    # int8 / native bf16 (streamclip.detector.redecision): windows recomputed in fp32 because a frame
    # was near the threshold, those frames, the decisions the recomputation changed, its seconds
    redecided_windows: int = 0
    redecided_near_frames: int = 0
    redecided_changed_frames: int = 0
    redecide_s: float = 0.0


class TranscoderStats(ActorStats, **_STATS):
    encoded: int = 0
    reused: int = 0
    failed: int = 0


class FramesStats(ActorStats, **_STATS):
    pass


class WriterStats(ActorStats, **_STATS):
    pass


class StageStats(ActorStats, **_STATS):
    """A curation stage (`streamclip.stages`): clips it processed, dropped, failed on."""

    processed: int = 0
    dropped: int = 0
    failed: int = 0


class WorkerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One Ray worker as the driver sees it."""

    index: int
    generation: int
    alive: bool
    pid: int | None
    host: str | None
    in_flight: list[str]


class RayStats(msgspec.Struct, frozen=True, kw_only=True):
    workers: list[WorkerInfo]
    waiting: int
    retrying: int
    workers_replaced: int
    videos_retried: int


class PipelineStats(msgspec.Struct, frozen=True, kw_only=True):
    """A pipeline's channels and actors; on Ray, summed over its workers, plus the driver's `ray`."""

    elapsed_s: float = 0.0
    channels: dict[str, ChannelStats] = msgspec.field(default_factory=dict)
    decoder: DecoderStats | None = None  # scene mode only (fixed stride decodes nothing)
    detector: DetectorStats | None = None
    spans: ActorStats | None = None  # span builder, or the fixed-stride spanner
    transcoder: TranscoderStats = msgspec.field(default_factory=TranscoderStats)
    frames: FramesStats = msgspec.field(default_factory=FramesStats)
    writer: WriterStats = msgspec.field(default_factory=WriterStats)
    stages: dict[str, StageStats] = msgspec.field(default_factory=dict)  # by stage name, in pipeline order
    ray: RayStats | None = None


_KINDS: dict[str, tuple[str, type[ActorStats]]] = {
    "decoder": ("decoder", DecoderStats),
    "shot_detector": ("detector", DetectorStats),
    "span_builder": ("spans", ActorStats),
    "stride_spanner": ("spans", ActorStats),
    "transcoder": ("transcoder", TranscoderStats),
    "frame_extractor": ("frames", FramesStats),
    "clip_writer": ("writer", WriterStats),
}
STAGE_PREFIX = "stage:"  # a curation stage's actor is named "stage:<its name>"


def pipeline_stats(
    elapsed_s: float, channels: Iterable[ChannelStats], actors: Iterable[dict[str, Any]]
) -> PipelineStats:
    """The typed statistics of one pipeline from its channels and its actors' counters."""
    fields: dict[str, Any] = {}
    stages: dict[str, StageStats] = {}
    for counters in actors:
        if counters["name"].startswith(STAGE_PREFIX):
            stages[counters["name"].removeprefix(STAGE_PREFIX)] = msgspec.convert(counters, StageStats)
            continue
        field, kind = _KINDS[counters["name"]]
        fields[field] = msgspec.convert(counters, kind)
    return PipelineStats(elapsed_s=elapsed_s, channels={c.name: c for c in channels}, stages=stages, **fields)


S = TypeVar("S", bound=msgspec.Struct)


def combine(parts: Sequence[PipelineStats], *, elapsed_s: float, ray: RayStats | None = None) -> PipelineStats:
    """Several pipelines' statistics as one (Ray: every worker's, the dead ones' last figures too)."""
    channels: dict[str, list[ChannelStats]] = {}
    for part in parts:
        for name, channel in part.channels.items():
            channels.setdefault(name, []).append(channel)
    fields: dict[str, Any] = {}
    for field in ("decoder", "detector", "spans", "transcoder", "frames", "writer"):
        present = [getattr(p, field) for p in parts if getattr(p, field) is not None]
        if present:
            fields[field] = functools.reduce(_add, present)
    merged = {name: functools.reduce(_add, found) for name, found in channels.items()}
    stages: dict[str, list[StageStats]] = {}
    for part in parts:
        for name, stage in part.stages.items():
            stages.setdefault(name, []).append(stage)
    fields["stages"] = {name: functools.reduce(_add, found) for name, found in stages.items()}
    return PipelineStats(elapsed_s=elapsed_s, channels=merged, ray=ray, **fields)


_MAXIMA = frozenset({"max_depth", "max_videos_in_batch", "lag_s", "spool_peak_bytes"})
_KEEP_FIRST = frozenset({"name"})


def _add(a: S, b: S) -> S:
    """Field by field: counts and seconds add, maxima take the larger, per-video tables merge."""
    values: dict[str, Any] = {}
    for field in a.__struct_fields__:
        x, y = getattr(a, field), getattr(b, field)
        if field in _KEEP_FIRST:
            values[field] = x
        elif field in _MAXIMA:
            values[field] = max(x, y)
        elif isinstance(x, dict):
            values[field] = {**x, **y}
        elif isinstance(x, bool):
            values[field] = x and y
        else:
            values[field] = x + y
    if isinstance(a, DetectorStats):
        values["mean_batch"] = round(values["windows"] / values["batches"], 2) if values["batches"] else 0.0
    return type(a)(**values)
