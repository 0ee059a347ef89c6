"""Split videos and drop the too-dark clips with a stage of one's own (examples/brightness_stage.py).

.venv/bin/python examples/drop_dark_clips.py OUT VIDEO... [--min-brightness 40]

The same stage from a profile instead of code (this folder on PYTHONPATH):

PYTHONPATH=examples streamclip split VIDEO -o OUT --profile examples/dark-clips.toml
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from brightness_stage import MeanBrightness

import streamclip


async def main(output: str, videos: list[str], min_brightness: float) -> int:
    stage = MeanBrightness({"min_brightness": min_brightness})
    events = await streamclip.split(videos, output, "fixed-stride", stages=[stage])
    for event in events:
        if isinstance(event, streamclip.ClipReady):
            clip = event.clip
            what = "kept" if clip.kept else f"dropped ({clip.drop_reason})" if clip.ok else f"failed {clip.errors}"
            print(
                f"clip {Path(clip.source).name} #{clip.index} brightness {clip.fields.get('mean_brightness')}: {what}"
            )
        elif isinstance(event, streamclip.VideoDone):
            stats = event.stats
            print(f"done {Path(event.source).name}: {stats.num_passed} kept, {stats.num_filtered} dropped")
        else:
            print(f"FAILED {Path(event.source).name}: {event.reason}")
    return 0 if all(not isinstance(e, streamclip.VideoFailed) for e in events) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--min-brightness", type=float, default=40.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.output, args.videos, args.min_brightness)))
