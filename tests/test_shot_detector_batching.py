"""ShotDetector's batching across videos, with a fake model (the real one is tested elsewhere).

The fake returns, for each window, the red value of pixel (0, 0) of its middle 50 frames / 255, so
every probability names the frame it belongs to and any misplaced window shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from streamclip.actors.messages import FrameChunk, ProbChunk, VideoEnd, VideoJob
from streamclip.actors.shot_detector import DetectorIn, DetectorOut, ShotDetector
from streamclip.config import DetectorConfig
from streamclip.contract.types import VideoMetadata
from streamclip.detector.network import FRAME_SHAPE, KEEP, STEP, WINDOW, ShotModel, WindowBuilder
from streamclip.runtime.channel import Channel


class FakeModel:
    def __init__(self, forward_s: float = 0.0) -> None:
        self.forward_s = forward_s
        self.batch_shapes: list[tuple[int, ...]] = []
        self.in_forward = threading.Event()

    def predict_windows(self, windows: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self.batch_shapes.append(windows.shape)
        self.in_forward.set()
        try:
            time.sleep(self.forward_s)
        finally:
            self.in_forward.clear()
        return fake_probabilities(windows)


def fake_probabilities(windows: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return (windows[:, KEEP, 0, 0, 0] / 255).astype(np.float32)


def make_job(job_id: int, num_frames: int) -> VideoJob:
    path = f"/videos/v{job_id}.mp4"
    meta = VideoMetadata(
        path=path,
        size=1,
        width=48,
        height=27,
        fps=25.0,
        num_frames=num_frames,
        duration_s=num_frames / 25,
        video_codec="h264",
        pixel_format="yuv420p",
    )
    return VideoJob(id=job_id, source=path, rel=f"v{job_id}.mp4", meta=meta)


def make_frames(num_frames: int, seed: int) -> npt.NDArray[np.uint8]:
    frames = np.random.default_rng(seed).integers(0, 256, (num_frames, *FRAME_SHAPE), dtype=np.uint8)
    frames[:, 0, 0, 0] = (np.arange(num_frames) * 7 + seed) % 256  # distinct neighbours
    return frames


def chunks(job: VideoJob, frames: npt.NDArray[np.uint8], size: int) -> list[FrameChunk]:
    return [FrameChunk(job, i, frames[i : i + size]) for i in range(0, len(frames), size)]


def reference(frames: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The fake's output over the reference windowing of the whole video, one value per frame."""
    builder = WindowBuilder()
    windows = builder.push(frames) + builder.finish()
    assert [first for first, _ in windows] == list(range(0, len(windows) * STEP, STEP))
    out = np.concatenate([fake_probabilities(window[None])[0] for _, window in windows])
    return out[: len(frames)]


def detector(model: FakeModel, inbox: Channel[DetectorIn], outbox: Channel[DetectorOut], **config: Any) -> ShotDetector:
    return ShotDetector(inbox, outbox, DetectorConfig(**config), model=cast(ShotModel, model))


async def run_detector(actor: ShotDetector, items: list[DetectorIn], pause_s: float = 0.0) -> list[DetectorOut]:
    async def feed() -> None:
        for item in items:
            await actor.inbox.send(item)
            if pause_s:
                await asyncio.sleep(pause_s)
        actor.inbox.close()

    async with asyncio.TaskGroup() as group:
        group.create_task(feed())
        group.create_task(actor.run())
        return [item async for item in actor.outbox]


def interleave(*streams: list[FrameChunk]) -> list[DetectorIn]:
    out: list[DetectorIn] = []
    for i in range(max(len(s) for s in streams)):
        out += [s[i] for s in streams if i < len(s)]
    return out


async def test_windows_of_two_videos_are_batched_together_and_come_back_in_order() -> None:
    model = FakeModel()
    actor = detector(model, Channel(4), Channel(4), batch_windows=4, max_wait_ms=10_000)
    jobs = [make_job(1, 437), make_job(2, 260)]
    frames = {1: make_frames(437, 1), 2: make_frames(260, 2)}
    items = interleave(chunks(jobs[0], frames[1], 30), chunks(jobs[1], frames[2], 45))
    items += [VideoEnd(jobs[0]), VideoEnd(jobs[1])]
    out = await run_detector(actor, items)

    for job in jobs:
        mine = [item for item in out if item.job is job]
        assert isinstance(mine[-1], VideoEnd), "VideoEnd must follow every ProbChunk of its video"
        assert mine[-1].error is None
        probs = cast(list[ProbChunk], mine[:-1])
        assert all(isinstance(p, ProbChunk) for p in probs)
        assert [p.first_frame for p in probs] == list(range(0, job.meta.num_frames, STEP))  # type: ignore[union-attr]
        values = np.concatenate([p.probabilities for p in probs])
        assert values.dtype == np.float32
        np.testing.assert_array_equal(values, reference(frames[job.id]))
        np.testing.assert_array_equal(values, (frames[job.id][:, 0, 0, 0] / 255).astype(np.float32))
        assert job.timings_s["detect"] >= 0.0

    assert len(out) == 9 + 6 + 2
    assert all(shape[0] <= 4 and shape[1:] == (WINDOW, *FRAME_SHAPE) for shape in model.batch_shapes)
    assert sum(shape[0] for shape in model.batch_shapes) == 15
    stats = actor.statistics()
    assert stats["max_videos_in_batch"] == 2
    assert stats["batches"] == len(model.batch_shapes)
    assert stats["windows"] == 15
    assert stats["pending"] == 0


async def test_a_failed_video_still_gets_probabilities_for_every_decoded_frame() -> None:
    # Frames decoded before a decode error are real: the scenes that ended before the damage
    # must still be found, so the detector pads the end and predicts them all before the VideoEnd.
    model = FakeModel()
    actor = detector(model, Channel(4), Channel(4), batch_windows=4, max_wait_ms=10_000)
    job = make_job(1, 120)
    frames = make_frames(120, 3)
    out = await run_detector(actor, [*chunks(job, frames, 60), VideoEnd(job, error="decoder died")])
    assert [type(item) for item in out] == [ProbChunk, ProbChunk, ProbChunk, VideoEnd]
    probs = cast(list[ProbChunk], out[:3])
    assert [p.first_frame for p in probs] == [0, 50, 100]
    assert sum(len(p.probabilities) for p in probs) == 120
    assert cast(VideoEnd, out[3]).error == "decoder died"


async def test_a_partial_batch_runs_after_max_wait() -> None:
    model = FakeModel()
    actor = detector(model, Channel(4), Channel(4), batch_windows=8, max_wait_ms=10)
    job = make_job(1, 300)
    frames = make_frames(300, 4)
    first_prob_at: list[float] = []
    ended_at: list[float] = []

    async def feed() -> None:
        for chunk in chunks(job, frames, 50):
            await actor.inbox.send(chunk)
            await asyncio.sleep(0.05)  # a slow decoder
        ended_at.append(time.monotonic())
        await actor.inbox.send(VideoEnd(job))
        actor.inbox.close()

    out: list[DetectorOut] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(feed())
        group.create_task(actor.run())
        async for item in actor.outbox:
            if isinstance(item, ProbChunk) and not first_prob_at:
                first_prob_at.append(time.monotonic())
            out.append(item)

    assert first_prob_at[0] < ended_at[0], "the first probabilities waited for the video's end"
    assert model.batch_shapes[0][0] < 8  # a partial batch
    assert [item.first_frame for item in out if isinstance(item, ProbChunk)] == list(range(0, 300, STEP))
    assert isinstance(out[-1], VideoEnd)


async def test_the_forward_pass_does_not_block_the_event_loop() -> None:
    model = FakeModel(forward_s=0.2)
    actor = detector(model, Channel(4), Channel(4), batch_windows=2, max_wait_ms=10_000)
    job = make_job(1, 200)  # 4 windows: two forwards of 0.2 s
    ticks_in_forward = 0

    async def ticker() -> None:
        nonlocal ticks_in_forward
        while True:
            await asyncio.sleep(0.02)
            if model.in_forward.is_set():
                ticks_in_forward += 1

    ticking = asyncio.create_task(ticker())
    try:
        out = await run_detector(actor, [*chunks(job, make_frames(200, 5), 100), VideoEnd(job)])
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
    assert len(model.batch_shapes) == 2
    assert len(out) == 5
    assert ticks_in_forward >= 5, f"only {ticks_in_forward} ticks of 20 ms during 0.4 s of forward"
