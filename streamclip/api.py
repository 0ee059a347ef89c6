"""The Python async API: a pipeline opened as an async context manager.

    async with streamclip.open_pipeline(config, output_dir="out") as pipe:
        await pipe.submit("a.mp4")
        pipe.close_input()
        async for event in pipe:
            ...

Videos may be submitted at any time until `close_input()`; events arrive as they happen
(`ClipReady` in completion order, then `VideoDone` or `VideoFailed` per video). Leaving the block
early cancels every actor and kills every ffmpeg child; work files are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

from streamclip.actors.clip_writer import ClipWriter, WriterIn
from streamclip.actors.decoder import Decoder, DecoderOut
from streamclip.actors.frame_extractor import FrameExtractor
from streamclip.actors.messages import VideoJob
from streamclip.actors.shot_detector import DetectorOut, ShotDetector
from streamclip.actors.span_builder import SpanBuilder
from streamclip.actors.stride_spanner import StrideSpanner
from streamclip.actors.transcoder import Transcoder, TranscoderIn
from streamclip.config import PipelineConfig, RayConfig, load_config
from streamclip.detector import ShotModel
from streamclip.hardware import check_encoder, resolve_hardware
from streamclip.runtime.channel import Channel
from streamclip.runtime.pipeline import Runnable, run_actors, until_end
from streamclip.stats import PipelineStats, pipeline_stats
from streamclip.threads import plan_threads
from streamclip.types import Event
from streamclip.workspace import Workspace

if TYPE_CHECKING:
    from streamclip.ray.driver import RayPipeline


class Pipeline:
    """A running set of actors. Create it with `open_pipeline`."""

    def __init__(self, config: PipelineConfig, output_dir: Path | None, model: ShotModel | None = None) -> None:
        self.config = config
        self.output_dir = output_dir
        self.started_at = time.monotonic()
        self.workspace = Workspace(output_dir)
        caps = config.channels
        self.jobs: Channel[VideoJob] = Channel(caps.jobs, "jobs")
        self.events: Channel[Event] = Channel(caps.events, "events")
        self.channels: list[Channel[Any]] = [self.jobs]
        self.actors: list[Runnable] = []
        self._ids = itertools.count()
        self.runner: asyncio.Task[None] | None = None
        self._build(model)
        self.channels.append(self.events)

    def _channel(self, capacity: int, name: str) -> Channel[Any]:
        channel: Channel[Any] = Channel(capacity, name)
        self.channels.append(channel)
        return channel

    def _build(self, model: ShotModel | None) -> None:
        cfg, caps = self.config, self.config.channels
        threads = plan_threads(cfg)
        spans: Channel[TranscoderIn] = self._channel(caps.spans, "spans")
        if cfg.spans.mode == "fixed_stride":
            self.actors.append(StrideSpanner(self.jobs, spans, cfg.spans, cfg.limits, workers=cfg.decode.max_videos))
        else:
            frames: Channel[DecoderOut] = self._channel(caps.frames, "frames")
            probs: Channel[DetectorOut] = self._channel(caps.probabilities, "probabilities")
            self.actors += [
                Decoder(self.jobs, frames, cfg.decode, cfg.limits, threads=threads.decoder),
                ShotDetector(frames, probs, cfg.detector, model, threads=threads.detector),
                SpanBuilder(probs, spans, cfg.spans, cfg.detector.threshold),
            ]
        encoded: Channel[WriterIn] = self._channel(caps.clips, "encoded")
        sampled: Channel[WriterIn] = self._channel(caps.clips, "sampled")
        self.actors += [
            Transcoder(
                spans,
                encoded,
                cfg.transcode,
                cfg.limits,
                self.workspace,
                threads=(threads.encoder, threads.transcode_input),
            ),
            FrameExtractor(encoded, sampled, cfg.frames, cfg.limits, self.workspace, threads=threads.frames),
            ClipWriter(sampled, self.events, cfg, self.output_dir, self.started_at),
        ]

    async def submit(self, path: str | os.PathLike[str], *, rel: str | None = None) -> None:
        """Queue a video (waits while the pipeline is full). `rel` names its record in the output."""
        source = os.path.abspath(os.fspath(path))
        await self.jobs.send(VideoJob(id=next(self._ids), source=source, rel=rel or Path(source).name))

    def close_input(self) -> None:
        """No more videos: the event stream ends once every submitted video is done."""
        self.jobs.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return until_end(self.events, self.runner)  # a crashed actor's error is raised at the end

    def statistics(self) -> PipelineStats:
        """Depth, items and time blocked of every channel; each actor's counters, typed by kind."""
        return pipeline_stats(
            round(time.monotonic() - self.started_at, 3),
            [c.statistics() for c in self.channels],
            [a.statistics() for a in self.actors],
        )


class EventPipeline(Protocol):
    """What the CLI and the daemon need of a pipeline: `Pipeline` on one machine, `RayPipeline` on Ray."""

    async def submit(self, path: str | os.PathLike[str], *, rel: str | None = None) -> None: ...

    def close_input(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[Event]: ...

    def statistics(self) -> PipelineStats: ...


@overload
def open_pipeline(
    config: PipelineConfig | str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    model: ShotModel | None = None,
    ray: None = None,
) -> contextlib.AbstractAsyncContextManager[Pipeline]: ...


@overload
def open_pipeline(
    config: PipelineConfig | str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    model: ShotModel | None = None,
    ray: RayConfig | str,
) -> contextlib.AbstractAsyncContextManager[RayPipeline]: ...


def open_pipeline(
    config: PipelineConfig | str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    model: ShotModel | None = None,
    ray: RayConfig | str | None = None,
) -> contextlib.AbstractAsyncContextManager[Pipeline] | contextlib.AbstractAsyncContextManager[RayPipeline]:
    """Open a streaming pipeline; `config` is a `PipelineConfig` or a profile name/path.

    `ray` runs it on a Ray cluster instead of in this process: a Ray address, "local" to start a
    Ray runtime here, or a `RayConfig`. Events and outputs are the same either way.
    """
    if not isinstance(config, PipelineConfig):
        config = load_config(config or "default")
    out = Path(output_dir) if output_dir is not None else None
    if ray is None:
        return _open_here(config, out, model)
    from streamclip.ray import open_ray_pipeline  # the `ray` extra: imported only when asked for

    return open_ray_pipeline(config, out, RayConfig(address=ray) if isinstance(ray, str) else ray)


@contextlib.asynccontextmanager
async def _open_here(
    config: PipelineConfig, output_dir: Path | None, model: ShotModel | None
) -> AsyncIterator[Pipeline]:
    config = resolve_hardware(config)
    check_encoder(config.transcode.encoder)
    pipe = Pipeline(config, output_dir, model)
    runner = pipe.runner = asyncio.create_task(run_actors(pipe.actors), name="streamclip-pipeline")
    try:
        yield pipe
    finally:
        runner.cancel()
        try:
            await asyncio.wait([runner])  # the actors' own finally blocks reap every ffmpeg child
        finally:
            pipe.workspace.cleanup()


async def split(
    paths: Sequence[str | os.PathLike[str]] | Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | str | None = None,
    *,
    ray: RayConfig | str | None = None,
) -> list[Event]:
    """One call: run every path through one pipeline (on Ray if `ray` is given); all events in arrival order."""
    pipe: EventPipeline
    async with open_pipeline(config, output_dir, ray=ray) as pipe:
        feeder = asyncio.create_task(_feed(pipe, paths))
        events = [event async for event in pipe]
        await feeder
    return events


async def _feed(pipe: EventPipeline, paths: Iterable[str | os.PathLike[str]]) -> None:
    try:
        for path in paths:
            await pipe.submit(path)
    finally:
        pipe.close_input()
