"""ShotDetector: TransNetV2 windows built per video as frames arrive, batched across videos.

A batch is run when it holds `batch_windows` windows, when the oldest pending window has waited
`max_wait_ms`, or when a video ends. The forward pass runs in a worker thread, off the event loop.
Probabilities leave per video in frame order, as soon as they are final.

The engine comes from the config: int8 (or native bf16) re-decides its near-threshold windows in fp32
(`streamclip.detector.redecision`) and `statistics()` counts it; a model passed in is used as it is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamclip.actors.messages import FrameChunk, ProbChunk, VideoEnd, VideoJob
from streamclip.config import DetectorConfig
from streamclip.detector.cuda import DeviceWindowBuilder, stack_windows
from streamclip.detector.engines import Engine, deciding_engine, shared_engine
from streamclip.detector.network import STEP, DetectorSettings, Frames, WindowBuilder
from streamclip.detector.redecision import redecision_statistics
from streamclip.runtime.actor import Actor
from streamclip.runtime.channel import Channel, EndOfStream

DetectorIn = FrameChunk | VideoEnd
DetectorOut = ProbChunk | VideoEnd


@dataclass(frozen=True, eq=False)
class _Window:
    job: VideoJob
    first_frame: int
    valid: int  # real frames covered (< 50 only for a video's last window)
    frames: Frames | Any  # a torch tensor on the GPU when its frames came from decode "pynvc"


class ShotDetector(Actor[DetectorIn, DetectorOut]):
    name = "shot_detector"

    def __init__(
        self,
        inbox: Channel[DetectorIn],
        outbox: Channel[DetectorOut],
        config: DetectorConfig,
        model: Engine | None = None,
        *,
        threads: int = 0,
    ) -> None:
        super().__init__(inbox, outbox)
        self.config = config
        self.threads = threads or config.torch_threads  # intra-op threads; 0 keeps torch's default
        self.model = model
        self._builders: dict[int, WindowBuilder | DeviceWindowBuilder] = {}
        self._pending: list[_Window] = []
        self._oldest_pending = 0.0
        self.batches = 0
        self.windows = 0
        self.max_videos_in_batch = 0
        self.forward_s = 0.0

    async def run(self) -> None:
        if self.model is None:
            settings = DetectorSettings(self.config.device, self.config.precision, self.threads)
            settings = dataclasses.replace(
                settings, engine=self.config.engine, model_cache=self.config.model_cache, model=self.config.model
            )
            # int8 / native bf16: windows near the threshold are recomputed in fp32 (the reference's decisions)
            self.model = await asyncio.to_thread(deciding_engine, settings, self.config.threshold, shared_engine)
        await super().run()

    async def _receive(self) -> DetectorIn:
        if not self._pending:
            return await self.inbox.receive()
        wait_s = self._oldest_pending + self.config.max_wait_ms / 1000 - time.monotonic()
        return await self.inbox.receive(timeout_s=max(wait_s, 0.0))

    async def on_item(self, item: DetectorIn) -> None:
        if isinstance(item, FrameChunk):
            if item.job.id not in self._builders:  # tensors on the GPU (decode "pynvc") keep their windows there
                on_device = not isinstance(item.frames, np.ndarray)
                self._builders[item.job.id] = DeviceWindowBuilder() if on_device else WindowBuilder()
            builder = self._builders[item.job.id]
            self._queue(item.job, builder, builder.push(item.frames))
            if len(self._pending) >= self.config.batch_windows:
                await self._flush(full_batches_only=True)
            return
        # Also after a decode error: every frame decoded before the damage gets its prediction,
        # so the scenes that closed before it still become clips.
        ending = self._builders.pop(item.job.id, WindowBuilder())
        self._queue(item.job, ending, ending.finish())
        await self._flush(full_batches_only=False)
        await self.emit(item)

    def _queue(
        self, job: VideoJob, builder: WindowBuilder | DeviceWindowBuilder, windows: list[tuple[int, Any]]
    ) -> None:
        if windows and not self._pending:
            self._oldest_pending = time.monotonic()
        for first, frames in windows:
            valid = min(STEP, builder.frames_seen - first)
            self._pending.append(_Window(job, first, valid, frames))

    async def _flush(self, *, full_batches_only: bool) -> None:
        size = self.config.batch_windows
        while self._pending and (len(self._pending) >= size or not full_batches_only):
            batch, self._pending = self._pending[:size], self._pending[size:]
            await self._run_batch(batch)
        if self._pending:
            self._oldest_pending = time.monotonic()

    async def _run_batch(self, batch: list[_Window]) -> None:
        assert self.model is not None
        started = time.monotonic()
        probs = await asyncio.to_thread(self.model.predict_windows, stack_windows([w.frames for w in batch]))
        elapsed = time.monotonic() - started
        self.forward_s += elapsed
        self.batches += 1
        self.windows += len(batch)
        self.max_videos_in_batch = max(self.max_videos_in_batch, len({w.job.id for w in batch}))
        for window, row in zip(batch, probs, strict=True):
            window.job.add_time("detect", elapsed / len(batch))
            await self.emit(ProbChunk(window.job, window.first_frame, row[: window.valid].copy()))

    def statistics(self) -> dict[str, object]:
        stats = super().statistics()
        stats.update(
            batches=self.batches,
            windows=self.windows,
            mean_batch=round(self.windows / self.batches, 2) if self.batches else 0.0,
            max_videos_in_batch=self.max_videos_in_batch,
            forward_s=round(self.forward_s, 3),
            pending=len(self._pending),
            **redecision_statistics(self.model),
        )
        return stats

    # The loop differs from `Actor.loop` only in how it waits: with windows pending it waits
    # at most until the oldest is `max_wait_ms` old, then runs a partial batch.
    async def loop(self) -> None:
        while True:
            try:
                item = await self._receive()
            except TimeoutError:
                await self._flush(full_batches_only=False)
                continue
            except EndOfStream:
                return
            await self.dispatch(item)

    async def on_end(self) -> None:
        await self._flush(full_batches_only=False)
