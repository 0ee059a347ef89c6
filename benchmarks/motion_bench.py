"""What the motion stage adds to a split at 720p: CPU-seconds per clip second, next to the split's.

    .venv/bin/python benchmarks/motion_bench.py [--rounds 3] [--seconds 60] [--size 1280x720]
    .venv/bin/python benchmarks/motion_bench.py --quick      # 8 s of video, one round (a smoke run)

Generates a 720p30 video of lavfi scenes with hard cuts (cached under benchmarks/.cache/) and, each
round, in this order:

- `split`: `streamclip split` with the default profile (`[motion]` off), in its own process; its
  CPU-seconds are those of the child and everything it reaped (ffmpeg), from `wait4`;
- `motion`: in this process, on one thread, NeMo Curator's motion scoring of every clip that split
  wrote (`streamclip.stages.motion.measure_motion`: decode with motion vectors, rasterise, score),
  CPU-seconds from `getrusage`;
- `split+motion`: the same split with `motion.enabled=true` and `motion.score_only=true` (every
  clip written, as in `split`), to check end to end that the stage adds what was measured alone.

Figures are per second of clip written (the sum of the clips' durations) and the ratio
motion / split, the median over rounds. The goal of issue 21: under 15 % of the split's CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from pipeline_bench import CACHE, cpu_flags_line, make_video, split_cpu_seconds

MOTION_ON = ["--set", "motion.enabled=true", "--set", "motion.score_only=true"]


def clip_seconds(out: Path) -> float:
    """The summed duration of the clips written (from their metas)."""
    total = 0.0
    for meta_file in (out / "metas" / "v0").glob("*.json"):
        meta = json.loads(meta_file.read_text())
        if (out / "clips" / f"{meta_file.stem}.mp4").is_file():
            start, end = meta["duration_span"]
            total += end - start
    return total


def motion_cpu(out: Path) -> tuple[float, list[tuple[float, float]]]:
    """CPU-seconds of scoring every written clip in this process, and the scores."""
    from streamclip.stages.motion import measure_motion

    before = resource.getrusage(resource.RUSAGE_SELF)
    scores = [measure_motion(path)[0] for path in sorted((out / "clips").glob("*.mp4"))]
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, [(s.global_mean, s.per_patch_min_256) for s in scores]


def one_round(video: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=CACHE) as plain, tempfile.TemporaryDirectory(dir=CACHE) as scored:
        split = split_cpu_seconds(video, Path(plain), [])
        seconds = clip_seconds(Path(plain))
        motion, scores = motion_cpu(Path(plain))
        both = split_cpu_seconds(video, Path(scored), MOTION_ON)
        kept = sum(1 for g, _ in scores if g >= 0.00098)
    return {"clip_s": seconds, "clips": len(scores), "above_threshold": kept,
            "split": split / seconds, "motion": motion / seconds, "split+motion": both / seconds}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--quick", action="store_true", help="8 s of video, one round")
    args = parser.parse_args()
    rounds, seconds = (1, 8.0) if args.quick else (args.rounds, args.seconds)
    CACHE.mkdir(exist_ok=True)
    video = make_video(CACHE / f"motion_{args.size}_{seconds:g}s.mp4", seconds=seconds, size=args.size, fps=30)
    print(f"video {video.name}; CPU flags: {cpu_flags_line()}", flush=True)
    results = []
    for number in range(rounds):
        result = one_round(video)
        results.append(result)
        print(f"  round {number + 1}: {result['clips']} clips, {result['clip_s']:.1f} clip-s; CPU-s per clip-s: "
              f"split {result['split']:.3f}, motion {result['motion']:.4f}, "
              f"split+motion {result['split+motion']:.3f}", flush=True)  # fmt: skip
    median = {key: statistics.median(r[key] for r in results) for key in ("split", "motion", "split+motion")}
    end_to_end = median["split+motion"] - median["split"]
    print(f"motion scoring adds {median['motion']:.4f} CPU-s per clip-s = {median['motion'] / median['split']:.1%} "
          f"of the split's {median['split']:.3f} (end to end: +{end_to_end:.4f}, "
          f"{end_to_end / median['split']:+.1%})  [{args.size}, {cpu_flags_line()}]")  # fmt: skip


if __name__ == "__main__":
    main()
