"""Split every video in a folder with the async API, printing each clip as it arrives.

.venv/bin/python examples/split_folder.py FOLDER OUT [PROFILE]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import streamclip
from streamclip.inputs import expand_inputs


async def main(folder: str, output: str, profile: str = "default") -> int:
    videos = expand_inputs([folder], exclude=[Path(output)]).videos
    failed = 0
    async with streamclip.open_pipeline(profile, output_dir=output) as pipe:

        async def feed() -> None:
            for video in videos:
                await pipe.submit(video.path, rel=video.rel)
            pipe.close_input()

        feeder = asyncio.create_task(feed())
        async for event in pipe:
            if isinstance(event, streamclip.ClipReady):
                clip = event.clip
                print(f"{event.elapsed_s:7.2f}s clip {Path(clip.source).name} #{clip.index} "
                      f"{clip.span.start_s:.2f}-{clip.span.end_s:.2f}s -> {clip.path}")  # fmt: skip
            elif isinstance(event, streamclip.VideoDone):
                print(f"{event.elapsed_s:7.2f}s done {Path(event.source).name}: {event.num_clips} clips")
            else:
                failed += 1
                print(f"{event.elapsed_s:7.2f}s FAILED {Path(event.source).name}: {event.reason}")
        await feeder
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
