"""What one start of each child process costs in CPU before it does any work, beside one detector window.

    PYTHONPATH=. .venv/bin/python benchmarks/process_start_bench.py [--runs 20] [--video examples/sample.mp4]

A split starts ffprobe once per video and ffmpeg at least twice (the decoder, then one transcode per
clip); the test suite starts ~3,000 of them, and a Python process for every CLI, daemon and Ray worker.
Each kind is started `--runs` times, the kinds taking turns so that the machine's load falls on all
alike; printed per start: CPU-s (the children's user + system, from `RUSAGE_CHILDREN`) and wall seconds,
medians of the runs. The last row is one TransNetV2 window on OpenVINO fp32 on one thread, in this
process (it needs a prepared model: `streamclip models prepare --precision fp32`), to set a start
against the work it comes with.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from detector_bench import machine

from streamclip.ffmpeg import children
from streamclip.ffmpeg.probe import probe_sync

ROOT = Path(__file__).resolve().parent.parent


def starts(video: Path) -> dict[str, Callable[[], object]]:
    """Each kind of start, run to its end; the source probe is streamclip's own (its argv, its ffprobe child)."""

    def start(argv: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    return {
        "ffmpeg -version": start([children.ffmpeg_binary(), "-version"]),
        "ffprobe -version": start([children.ffprobe_binary(), "-version"]),
        "streamclip's probe of a source (its ffprobe)": lambda: probe_sync(video),
        "python -c 'import streamclip.cli'": start([sys.executable, "-c", "import streamclip.cli"]),
    }


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_window_cpu_s(runs: int) -> tuple[float, float]:
    from streamclip.detector.engines import OpenVINOEngine

    engine = OpenVINOEngine.from_cache("fp32", threads=1)
    window = np.random.default_rng(0).integers(0, 256, (1, 100, 27, 48, 3), dtype=np.uint8)
    engine.predict_windows(window)  # the first inference allocates: outside the measurement
    cpu, wall = [], []
    for _ in range(runs):
        before_cpu, before_wall = time.process_time(), time.monotonic()
        engine.predict_windows(window)
        cpu.append(time.process_time() - before_cpu)
        wall.append(time.monotonic() - before_wall)
    return statistics.median(cpu), statistics.median(wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--video", type=Path, default=ROOT / "examples" / "sample.mp4")
    parser.add_argument("--no-window", action="store_true", help="skip the detector window (no prepared model)")
    args = parser.parse_args()
    probe_sync(args.video)  # a clear error now if the video is unusable
    runs = starts(args.video)
    spent: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in runs}
    for _ in range(args.runs):
        for name, run in runs.items():
            before_cpu, before_wall = children_cpu_s(), time.monotonic()
            run()
            spent[name][0].append(children_cpu_s() - before_cpu)
            spent[name][1].append(time.monotonic() - before_wall)
    print(machine())
    print(f"{args.runs} runs of each, taking turns; medians\n")
    print("| start | CPU-s | wall s |")
    print("|---|---:|---:|")
    for name, (cpu, wall) in spent.items():
        print(f"| {name} | {statistics.median(cpu):.3f} | {statistics.median(wall):.3f} |")
    if not args.no_window:
        cpu_w, wall_w = one_window_cpu_s(max(3, args.runs // 4))
        print(f"| (one TransNetV2 window, OpenVINO fp32, one thread, in process) | {cpu_w:.3f} | {wall_w:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
