"""Shot detection accuracy on an edited test set: streamclip's detectors beside PySceneDetect.

    .venv/bin/python benchmarks/accuracy_bench.py [--quick] [--set DIR] [--detectors a,b,...]

The set: `benchmarks/accuracy_set.py` builds it into `benchmarks/.cache/accuracy-set/` (real and
generated shots joined by cuts, dissolves, fades through black and wipes at known frames, at 24, 25,
30000/1001 and 50 fps, one odd size); `--set DIR` scores any folder of videos with a
`<name>.truth.json` beside each (streamclip.evaluation.truth), your own footage included.

Each detector runs on every video; its predicted shots are scored with the protocol TransNetV2 and
AutoShot publish (streamclip.evaluation.scoring: tolerance 0 and 2 frames, counts summed over the
set), per transition kind; a false positive far from every transition is "in-shot". CPU seconds per
minute of video include decoding: streamclip's detectors decode once to 48x27 with ffmpeg (as the
pipeline does, `-fps_mode cfr -r <avg fps>`; that ffmpeg's CPU is added to each), PySceneDetect
decodes at full size with OpenCV in-process.

Detectors (`--detectors`, comma-separated): `MODEL:ENGINE:PRECISION` of streamclip (models
transnetv2 and autoshot, through `streamclip.shot_probabilities`, threshold: the model's default in
streamclip's config) and `scenedetect:adaptive`, `scenedetect:content` (PySceneDetect's defaults).
A detector this install cannot run (AutoShot before it is merged, bf16 without native bf16: then it
says it runs fp32) is skipped with a note. The AutoShot published-F1 check (its authors' saved
predictions on SHOT, read from `../shared/eval/autoshot/` when present) is printed first.
"""

from __future__ import annotations

import argparse
import inspect
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import accuracy_set
from pipeline_bench import cpu_flags_line

import streamclip
from streamclip.detector.network import NATIVE_BF16_FLAGS, cpu_flags
from streamclip.evaluation.published import check_published
from streamclip.evaluation.report import Tally, markdown_table
from streamclip.evaluation.scoring import Shots, shots_from_probabilities
from streamclip.evaluation.truth import GroundTruth, read_truth

ROOT = Path(__file__).parent.parent
CACHE = Path(__file__).parent / ".cache" / "accuracy-set"
PUBLISHED = ROOT.parent / "shared" / "eval" / "autoshot"
DEFAULT_DETECTORS = [
    "transnetv2:torch:fp32", "transnetv2:openvino:fp32", "transnetv2:openvino:int8", "transnetv2:openvino:bf16",
    "autoshot:torch:fp32", "autoshot:openvino:fp32", "autoshot:openvino:int8",
    "scenedetect:adaptive", "scenedetect:content",
]  # fmt: skip


@dataclass
class Video:
    path: Path
    truth: GroundTruth
    frames: np.ndarray  # [N, 27, 48, 3] uint8, as the pipeline decodes
    decode_cpu_s: float

    @property
    def minutes(self) -> float:
        num, den = (int(x) for x in self.truth.fps.split("/"))
        return self.truth.frames * den / num / 60


def cpu_seconds() -> float:
    """This process's CPU time, every thread, plus its finished children's (ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_set(folder: Path) -> list[Video]:
    videos = []
    for truth_file in sorted(folder.glob("*.truth.json")):
        truth = read_truth(truth_file)
        path = truth_file.with_name(truth.video)
        start = cpu_seconds()
        frames = decode_48x27(path)
        if len(frames) != truth.frames:
            raise SystemExit(f"{path.name}: decoded {len(frames)} frames, its truth says {truth.frames}")
        videos.append(Video(path, truth, frames, cpu_seconds() - start))
    if not videos:
        raise SystemExit(f"no *.truth.json in {folder}")
    return videos


def decode_48x27(path: Path) -> np.ndarray:
    """The pipeline's detector input: 48x27 rgb24 at a constant rate, the video's average frame rate."""
    meta = streamclip.probe_sync(path)
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-threads", "1", "-i", str(path),
            "-map", "0:v:0", "-fps_mode", "cfr", "-r", repr(meta.fps), "-s", "48x27", "-pix_fmt", "rgb24",
            "-f", "rawvideo", "pipe:1"]  # fmt: skip
    raw = subprocess.run(argv, capture_output=True, check=True, timeout=600).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 27, 48, 3)


# ------------------------------------------------------------------------------------------------
# Detectors: each returns a function from a video to its predicted shots, or a reason it cannot run.


Detect = Callable[[Video], tuple[Shots, np.ndarray | None]]  # shots, and per-frame probabilities where there are


@dataclass
class Detector:
    detect: Detect | None  # None: cannot run here (the note says why)
    note: str
    threshold: float | None = None  # streamclip's detectors


def streamclip_detector(model: str, engine: str, precision: str) -> Detector:
    overrides = [f"detector.engine={engine}", f"detector.precision={precision}"]
    if model != "transnetv2":
        if "model" not in inspect.signature(streamclip.shot_probabilities).parameters:
            return Detector(None, f"this streamclip has no {model} model (shot_probabilities takes no model=)")
        overrides.append(f"detector.model={model}")
    try:
        threshold = streamclip.load_config("default", overrides).detector.threshold
    except streamclip.ConfigError as exc:
        return Detector(None, f"not runnable here: {exc}")
    note = f"threshold {threshold}"
    if precision == "bf16" and not cpu_flags() & NATIVE_BF16_FLAGS:
        note += "; no native bf16 on this CPU: runs fp32"
    extra: dict[str, Any] = {"model": model} if model != "transnetv2" else {}

    def detect(video: Video) -> tuple[Shots, np.ndarray | None]:
        probabilities = streamclip.shot_probabilities(video.frames, engine=engine, precision=precision, **extra)
        return shots_from_probabilities(probabilities, threshold), probabilities

    try:  # load (and, for OpenVINO, prepare) the model outside the timed runs
        streamclip.shot_probabilities(np.zeros((1, 27, 48, 3), np.uint8), engine=engine, precision=precision, **extra)
    except streamclip.StreamclipError as exc:
        return Detector(None, f"not runnable here: {exc}")
    return Detector(detect, note, threshold)


def scenedetect_detector(kind: str) -> Detector:
    try:
        import scenedetect
    except ImportError:
        return Detector(None, "PySceneDetect is not installed (pip install -e '.[bench]')")
    make = {"adaptive": scenedetect.AdaptiveDetector, "content": scenedetect.ContentDetector}[kind]

    def detect(video: Video) -> tuple[Shots, np.ndarray | None]:
        scenes = scenedetect.detect(str(video.path), make())
        starts = [int(start.frame_num) for start, _ in scenes[1:]]  # each new scene starts on a cut's first frame
        firsts, lasts = [0, *starts], [*(s - 1 for s in starts), video.truth.frames - 1]
        return np.array([firsts, lasts], dtype=np.int64).T, None

    return Detector(detect, f"PySceneDetect {scenedetect.__version__} defaults")


def detector(name: str) -> Detector:
    parts = name.split(":")
    if parts[0] == "scenedetect" and len(parts) == 2 and parts[1] in ("adaptive", "content"):
        return scenedetect_detector(parts[1])
    if len(parts) == 3:
        return streamclip_detector(*parts)
    raise SystemExit(f"unknown detector {name!r}: MODEL:ENGINE:PRECISION or scenedetect:adaptive|content")


@dataclass
class Run:
    tally: Tally
    note: str
    threshold: float | None
    shots: list[Shots]
    probabilities: list[np.ndarray]  # per video; empty for PySceneDetect


def run(name: str, videos: list[Video]) -> Run:
    """The detector's counts over the set (none when it cannot run here), a note on how it ran, its outputs."""
    chosen = detector(name)
    result = Run(Tally(name), chosen.note, chosen.threshold, [], [])
    detect = chosen.detect
    if detect is None:
        return result
    tally = result.tally
    for video in videos:
        start = cpu_seconds()
        shots, probabilities = detect(video)
        tally.cpu_s += cpu_seconds() - start
        tally.add(video.truth, shots)
        result.shots.append(shots)
        if probabilities is not None:
            result.probabilities.append(probabilities)
        tally.minutes += video.minutes
        if not name.startswith("scenedetect"):
            tally.cpu_s += video.decode_cpu_s
    return result


def agreement(runs: dict[str, Run]) -> None:
    """Each engine of a model beside that model's first fp32 run: max |dp|, decisions and shots that differ."""
    for name, candidate in runs.items():
        model = name.split(":")[0]
        reference = next((r for n, r in runs.items() if n.startswith(model + ":") and n.endswith(":fp32")), None)
        threshold = candidate.threshold
        if reference is None or reference is candidate or threshold is None or not reference.probabilities:
            continue
        ref_name = reference.tally.name
        pairs = list(zip(reference.probabilities, candidate.probabilities, strict=True))
        worst = max(float(np.abs(a - b).max()) for a, b in pairs)
        flipped = sum(int(((a > threshold) != (b > threshold)).sum()) for a, b in pairs)
        frames = sum(len(a) for a, _ in pairs)
        margin = min(float(np.abs(a - threshold).min()) for a, _ in pairs)
        differ = sum(not np.array_equal(a, b) for a, b in zip(reference.shots, candidate.shots, strict=True))
        print(f"  {name} vs {ref_name}: max |dp| {worst:.2e}; {flipped} of {frames} frames decided differently; "
              f"shots differ in {differ} of {len(pairs)} videos; the reference's smallest margin to {threshold}: "
              f"{margin:.2e}")  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Report


def published_check() -> None:
    if not (PUBLISHED / "gt_scenes_dict_baseline_v2.pickle").is_file():
        print(f"AutoShot published-F1 check: skipped ({PUBLISHED} absent)")
        return
    for check in check_published(PUBLISHED):
        c = check.counts
        print(f"AutoShot published-F1 check at {check.threshold}: F1 {c.f1:.4f} (published {check.published_f1:.4f}), "
              f"TP/FP/FN {c.true_positives}/{c.false_positives}/{c.false_negatives} "
              f"-> {'reproduced' if check.reproduced else 'DIFFERS'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two short edits (a smoke run)")
    parser.add_argument("--set", type=Path, help="a folder of videos with <name>.truth.json (default: build the set)")
    parser.add_argument("--detectors", default=",".join(DEFAULT_DETECTORS))
    args = parser.parse_args()
    print(cpu_flags_line(), flush=True)
    published_check()
    folder = args.set
    if folder is None:
        folder = CACHE / ("quick" if args.quick else "full")
        folder.mkdir(parents=True, exist_ok=True)
        real = accuracy_set.footage()
        for edit in accuracy_set.standard_edits(real, args.quick):
            accuracy_set.build(edit, folder, real)
    videos = load_set(folder)
    minutes = sum(v.minutes for v in videos)
    transitions = sum(len(v.truth.transitions) for v in videos)
    print(f"set: {len(videos)} videos, {minutes:.2f} min, {transitions} transitions ({folder})", flush=True)
    runs = {}
    for name in args.detectors.split(","):
        started = time.monotonic()
        runs[name] = run(name, videos)
        state = "skipped" if not runs[name].tally.counts else f"{time.monotonic() - started:.0f} s wall"
        print(f"  {name}: {state}; {runs[name].note}", flush=True)
        if runs[name].tally.counts:  # as it comes: a long run interrupted still says something
            print(markdown_table([runs[name].tally]), flush=True)
    print("\ndecisions beside the model's fp32 reference:")
    agreement({name: r for name, r in runs.items() if r.tally.counts})
    print()
    print(markdown_table([r.tally for r in runs.values() if r.tally.counts]))


if __name__ == "__main__":
    main()
