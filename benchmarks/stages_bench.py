"""What the stage runner itself costs per clip, next to what a split costs per clip.

    .venv/bin/python benchmarks/stages_bench.py [--clips 20000] [--seconds 20] [--size 1280x720]

1. The runner alone: `--clips` clip items pushed through a chain of 1 and of 3 no-op stages
   (`StageActor`s on bounded channels, as the pipeline wires them; each stage returns one field),
   no ffmpeg. CPU-seconds of this process per clip, minus the same feed through no stage.
2. The split: a fixed-stride split (2 s clips, libx264 ultrafast, frames at 2 fps) of a generated
   `--size` video, in this process, with no stage; CPU-seconds of the process and its ffmpeg
   children per clip.

The figure is (1) / (2): what the runner adds to a split per stage, the stage's own work aside.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from frames_bench import cpu_flags
from pipeline_bench import CACHE, make_video

import streamclip
from streamclip.actors.messages import ClipItem, VideoEnd, VideoJob
from streamclip.config import load_config
from streamclip.contract.types import Clip, Span
from streamclip.runtime.channel import Channel
from streamclip.stages import StageInput, StageOutput
from streamclip.stages.runner import StageIn, stage_actors


class Noop:
    concurrency, drop_counter = 2, None

    def __init__(self, name: str) -> None:
        self.name = name

    async def process(self, item: StageInput) -> StageOutput:
        return StageOutput(fields={self.name: 1})

    async def close(self) -> None:
        pass


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def through(stages: int, clips: int) -> float:
    """CPU-seconds to push `clips` items through `stages` no-op stages (0: straight to the drain)."""
    inbox: Channel[StageIn] = Channel(4, "in")
    outbox: Channel[StageIn] = Channel(4, "out")
    actors, _ = stage_actors([Noop(f"noop{i}") for i in range(stages)], inbox, outbox, 4) if stages else ([], [])
    job = VideoJob(id=1, source="/bench.mp4", rel="bench")
    items = [
        ClipItem(
            job,
            Clip(uuid=uuid.uuid4(), source=job.source, index=i, span=Span.from_frames(i, i + 1, 25.0)),
            scratch_path="/bench.mp4",
        )
        for i in range(clips)
    ]
    last = outbox if stages else inbox

    async def feed() -> None:
        for item in items:
            await inbox.send(item)
        await inbox.send(VideoEnd(job))
        inbox.close()

    async def drain() -> None:
        async for _ in last:
            pass

    started = cpu_s()
    async with asyncio.TaskGroup() as group:
        group.create_task(feed())
        group.create_task(drain())
        for actor in actors:
            group.create_task(actor.run())
    return cpu_s() - started


async def split_cost(video: Path) -> tuple[float, int]:
    config = load_config("fixed-stride", ["spans.clip_len_s=2.0", "spans.clip_stride_s=2.0",
                                          "transcode.preset=ultrafast"])  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        started = cpu_s() + cpu_s(resource.RUSAGE_CHILDREN)
        events = await streamclip.split([video], out, config)
        spent = cpu_s() + cpu_s(resource.RUSAGE_CHILDREN) - started
    return spent, sum(isinstance(e, streamclip.ClipReady) for e in events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    print(f"CPU flags: {cpu_flags()}")
    base = asyncio.run(through(0, args.clips))
    one = asyncio.run(through(1, args.clips))
    three = asyncio.run(through(3, args.clips))
    per_stage_us = (one - base) / args.clips * 1e6
    print(f"runner: {per_stage_us:.1f} us CPU per clip for 1 stage, {(three - base) / args.clips * 1e6:.1f} us for 3")
    CACHE.mkdir(parents=True, exist_ok=True)
    video = make_video(CACHE / f"stages_{args.size}_{args.seconds:g}s.mp4", seconds=args.seconds, size=args.size)
    wall = time.monotonic()
    spent, clips = asyncio.run(split_cost(video))
    per_clip_ms = spent / clips * 1e3
    print(f"split: {clips} clips, {per_clip_ms:.1f} ms CPU per clip ({time.monotonic() - wall:.1f} s wall)")
    print(f"runner / split per clip and stage: {per_stage_us / 1e3 / per_clip_ms:.5f}")


if __name__ == "__main__":
    main()
