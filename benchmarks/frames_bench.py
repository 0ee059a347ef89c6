"""What frame extraction adds to a split: CPU-seconds of the whole process tree, frames on vs off.

    .venv/bin/python benchmarks/frames_bench.py [--rounds 3] [--seconds 20] [--size 1920x1080]

Generates a 20-s 1080p30 video (lavfi scenes, cached under benchmarks/.cache/) and runs
`streamclip split --profile fixed-stride --set transcode.preset=ultrafast` on it, each run in its
own process into a fresh output folder, in these modes, interleaved round by round:

- `off`: `frames.enabled=false` — the split alone;
- `selected`: frames at 2 fps as shipped (ffmpeg `select` on the sampled indices: only the kept
  frames are scaled and converted, into a work file read at once);
- `every`: frames at 2 fps by decoding, converting and piping every frame through asyncio (the
  extractor before this benchmark: no `select`, no `-threads`);
- `second-output` (`--second-output`): the price of the alternative measured by hand, a second
  output on the transcoder's own ffmpeg (`select` + rgb24 pipe of the source's decoded frames).

CPU-seconds are those of the child and everything it reaped (ffmpeg), from `wait4`. The figure is
(mode - off) / off, the median over rounds of the paired ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from pipeline_bench import CACHE, cpu_seconds, make_video

SPLIT = ["--profile", "fixed-stride", "--set", "transcode.preset=ultrafast"]
MODES = {"off": ["--set", "frames.enabled=false"], "selected": [], "every": []}
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def cpu_flags() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    return " ".join(f for f in FLAGS if f in flags) or "none of " + ", ".join(FLAGS)


def child(mode: str, args: list[str]) -> int:
    """The CLI in this process; `every` makes the extractor pipe every frame (what it did before)."""
    from streamclip import cli
    from streamclip.actors.frame_extractor import FrameExtractor

    if mode == "every":
        FrameExtractor.extract = _every_frame  # type: ignore[method-assign]
    return cli.main(args)


async def _every_frame(self: Any, path: str, info: Any) -> Any:
    """The extractor before `select`: every frame decoded, converted and piped, the samples kept."""
    import numpy as np

    from streamclip.ffmpeg import children
    from streamclip.ffmpeg.argv import file_url

    height, width = self.config.target_res or (info.height, info.width)
    argv = [children.ffmpeg_binary(), "-v", "error", "-i", file_url(path), "-map", "0:v:0", "-fps_mode", "cfr",
            "-r", repr(info.framerate), "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]  # fmt: skip
    from streamclip.contract.rules import sample_frame_indices

    bound = info.num_frames * 2 + 16
    wanted = {i for r in self.config.target_fps for i in sample_frame_indices(bound, info.framerate, r)}
    kept, count = {}, 0
    async with children.stream(argv, idle_timeout_s=600) as child:
        while len(data := await child.read_exactly(height * width * 3)) == height * width * 3:
            last = np.frombuffer(data, np.uint8).reshape(height, width, 3)
            if count in wanted:
                kept[count] = last
            count += 1
        await child.finish()
    kept[count - 1] = last
    rows = {index: row for row, index in enumerate(kept)}
    return self._select(np.stack(list(kept.values())), rows, count, info.framerate)


def split_cpu(mode: str, video: Path) -> float:
    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        args = ["split", str(video), "-o", out, *SPLIT, *MODES[mode], "--no-progress"]
        return cpu_seconds([sys.executable, __file__, "--child", mode, *args])


def second_output_cpu(video: Path, seconds: float) -> tuple[float, float]:
    """One 10-s clip transcoded alone, and with a second output of its sampled frames (2 fps)."""
    from streamclip.ffmpeg.children import ffmpeg_binary

    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        base = [ffmpeg_binary(), "-v", "error", "-threads", "1", "-ss", "0", "-to", "10", "-i", str(video),
                "-map", "0:v:0", "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1",
                "-y", f"{out}/a.mp4"]  # fmt: skip
        terms = "+".join(f"eq(n\\,{i})" for i in range(0, 300, 15))
        second = ["-map", "0:v:0", "-vf", f"select={terms}", "-fps_mode", "passthrough", "-pix_fmt", "rgb24",
                  "-f", "rawvideo", "-y", f"{out}/frames.raw"]  # fmt: skip
        return cpu_seconds(base), cpu_seconds([*base, *second])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--second-output", action="store_true")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    video = make_video(
        CACHE / f"frames_{args.size}_{args.seconds:g}s.mp4", seconds=args.seconds, size=args.size, fps=30
    )
    print(f"video {video.name}; CPU flags: {cpu_flags()}; {os.cpu_count()} CPUs", flush=True)
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        order = list(MODES)[round_ % len(MODES) :] + list(MODES)[: round_ % len(MODES)]
        for mode in order:
            cpu[mode].append(split_cpu(mode, video))
        print(f"  round {round_ + 1}: " + "  ".join(f"{m} {cpu[m][-1]:.2f} CPU-s" for m in MODES), flush=True)
    for mode in ("selected", "every"):
        added = statistics.median((on - off) / off for on, off in zip(cpu[mode], cpu["off"], strict=True))
        medians = f"median {statistics.median(cpu[mode]):.2f} vs off {statistics.median(cpu['off']):.2f}"
        print(f"frames {mode:9} add {added:6.1%} to the split's CPU-seconds ({medians})  [{cpu_flags()}]")
    if args.second_output:
        alone, both = zip(*(second_output_cpu(video, args.seconds) for _ in range(args.rounds)), strict=True)
        print(f"second output on the transcoder: one 10-s clip {statistics.median(alone):.2f} -> "
              f"{statistics.median(both):.2f} CPU-s  [{cpu_flags()}]")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2], sys.argv[3:]))
    main()
