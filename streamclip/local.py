"""The local backend: the whole pipeline as actors in this process (`streamclip.api` is the façade).

`open_local_pipeline` wires the actors of DESIGN.md's diagram with bounded channels and runs them
in one task; `Pipeline` is the handle (submit, close_input, async for, statistics). The Ray backend
(`streamclip.ray`) runs one of these per Ray actor; both implement `backend.EventPipeline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from streamclip.actors.clip_writer import ClipWriter, WriterIn
from streamclip.actors.decisions_writer import write_part
from streamclip.actors.decoder import Decoder, DecoderOut
from streamclip.actors.frame_extractor import FrameExtractor
from streamclip.actors.messages import VideoJob
from streamclip.actors.shot_detector import DetectorOut, ShotDetector
from streamclip.actors.span_builder import SpanBuilder
from streamclip.actors.stride_spanner import StrideSpanner
from streamclip.actors.transcoder import Transcoder, TranscoderIn
from streamclip.config import PipelineConfig
from streamclip.contract.identity import check_rel
from streamclip.contract.stats import PipelineStats, pipeline_stats
from streamclip.contract.types import Event
from streamclip.detector.network import ShotModel
from streamclip.ffmpeg import children
from streamclip.ffmpeg.hardware import check_encoder, resolve_hardware
from streamclip.ffmpeg.threads import plan_threads
from streamclip.live import LiveSession, is_live
from streamclip.live.follow import follow_idle_s
from streamclip.runtime.channel import Channel
from streamclip.runtime.pipeline import Runnable, run_actors, until_end
from streamclip.runtime.waiting import wait_out
from streamclip.stages.interface import Stage
from streamclip.stages.loading import check_stages, iter_stages
from streamclip.stages.runner import close_stages, stage_actors
from streamclip.storage import remote, s3
from streamclip.storage.outputs import open_output
from streamclip.storage.workspace import Workspace


class Pipeline:
    """A running set of actors. Create it with `open_pipeline`."""

    def __init__(
        self,
        config: PipelineConfig,
        output_dir: Path | str | None,
        model: ShotModel | None = None,
        *,
        work_dir: Path | None = None,
        stages: Sequence[Stage] = (),
    ) -> None:
        self.config = config
        self.stages = list(stages)  # curation stages after the split, in order (streamclip.stages)
        self.store = open_output(output_dir)  # a folder, or an s3:// prefix (streamclip.storage)
        self.output_dir = output_dir if isinstance(output_dir, Path) else None
        self.started_at = time.monotonic()
        self.workspace = Workspace(work_dir or (self.store.work_parent if self.store else None))
        caps = config.channels
        self.jobs: Channel[VideoJob] = Channel(caps.jobs, "jobs")
        self.events: Channel[Event] = Channel(caps.events, "events")
        self.channels: list[Channel[Any]] = [self.jobs]
        self.actors: list[Runnable] = []
        self._ids = itertools.count()
        self._live: list[LiveSession] = []
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
                SpanBuilder(
                    probs,
                    spans,
                    cfg.spans,
                    cfg.detector.threshold,
                    part_s=cfg.live.decisions_part_s,
                    write_part=functools.partial(write_part, self.store) if self.store is not None else None,
                ),
            ]
        encoded: Channel[WriterIn] = self._channel(caps.clips, "encoded")
        sampled: Channel[WriterIn] = self._channel(caps.clips, "sampled")
        finished = sampled
        if self.stages:  # without stages the pipeline is exactly as before: no actor, no channel
            finished = self._channel(caps.clips, "staged")
            curation, between = stage_actors(self.stages, sampled, finished, caps.clips)
            self.channels += between
        self.actors += [
            Transcoder(
                spans,
                encoded,
                cfg.transcode,
                cfg.limits,
                self.workspace,
                threads=(threads.encoder, threads.transcode_input),
                store=self.store,
                stage_names=[stage.name for stage in self.stages],
            ),
            FrameExtractor(encoded, sampled, cfg.frames, cfg.limits, self.workspace, threads=threads.frames),
            *(curation if self.stages else []),
            ClipWriter(finished, self.events, cfg, self.store, self.started_at, with_stages=bool(self.stages)),
        ]

    async def submit(
        self,
        path: str | os.PathLike[str],
        *,
        rel: str | None = None,
        follow: bool = False,
        duration_s: float | None = None,
    ) -> None:
        """Queue a video (waits while the pipeline is full). `rel` names its record in the output.

        `follow` reads a local file that is still being written as it grows, and finishes it once it
        has not grown for `limits.follow_idle_s` (MPEG-TS, Matroska/WebM, FLV, fragmented MP4).
        "-" (stdin) and stream URLs (srt://, rtmp://, rtsp://, udp://, tcp://, http(s)://….m3u8) are
        read once, live, for at most `duration_s` seconds if given (`streamclip.live`)."""
        given = os.fspath(path)
        if is_live(given):
            session = LiveSession(
                given, self.config.live, self.workspace.root, duration_s=duration_s,
                probe_timeout_s=self.config.limits.probe_timeout_s,
            )  # fmt: skip
            self._live = [s for s in self._live if not s.ended] + [session]
            name = check_rel(rel) if rel is not None else session.rel
            await self.jobs.send(VideoJob(id=next(self._ids), source=session.source_id, rel=name, live=session))
            return
        if duration_s is not None:
            raise ValueError("duration_s applies to live sources (stdin, network streams) only")
        if follow and remote.is_remote(given):
            raise ValueError("follow applies to local files only")
        source = remote.source_id(given)  # an s3:// or http(s):// URL without its secrets, or an absolute path
        name = check_rel(rel) if rel is not None else remote.default_rel(source)
        idle_s = follow_idle_s(self.config) if follow else None
        await self.jobs.send(VideoJob(id=next(self._ids), source=source, rel=name, follow_idle_s=idle_s))

    def stop_live(self) -> None:
        """End every live source now, as if its sender had stopped: the scene in progress is closed
        at the last frame read and its clip written (SIGINT/SIGTERM in `split`)."""
        for session in self._live:
            session.stop()

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


@contextlib.asynccontextmanager
async def open_local_pipeline(
    config: PipelineConfig,
    output_dir: Path | str | None,
    model: ShotModel | None,
    *,
    work_dir: Path | None = None,
    stages: Sequence[Stage] = (),
) -> AsyncIterator[Pipeline]:
    """The pipeline in this process. `stages` (objects) run after those the config names; every
    stage is closed when the pipeline ends, however it ends."""
    config = resolve_hardware(config)
    s3.configure(config.storage)
    check_encoder(config.transcode.encoder)
    await children.demuxers_ready()  # the inputs' whitelist, read once, off the event loop
    curation: list[Stage] = []
    try:
        curation.extend(iter_stages(config, stages))
        check_stages(curation)
        pipe = Pipeline(config, output_dir, model, work_dir=work_dir, stages=curation)
    except BaseException:
        given = [stage for stage in stages if not any(stage is built for built in curation)]
        await close_stages([*curation, *given])  # those built before the one that failed, and the API's
        raise
    runner = pipe.runner = asyncio.create_task(run_actors(pipe.actors), name="streamclip-pipeline")
    try:
        yield pipe
    finally:
        runner.cancel()
        try:
            await wait_out(runner)  # every actor reaps its ffmpeg children, even if we are cancelled again
        finally:
            try:
                await close_stages(curation)  # after the actors: no process() is running any more
            finally:
                pipe.workspace.cleanup()
