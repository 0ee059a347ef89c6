"""AutoShot int8 against AutoShot fp32 (both OpenVINO): the worst |dp| per material, what the re-decision
margin (`streamclip.detector.redecision.MARGIN`) must stay above.

    PYTHONPATH=. .venv/bin/python benchmarks/autoshot_margin_bench.py [--set DIR]

The int8 engine is run bare here (no re-decision): its own probabilities beside fp32's, on
1. the int8 model's calibration windows (`streamclip.detector.calibration`, one window each);
2. the accuracy gates' gradual-transition videos (`tests/media.py` TRANSITION_VIDEOS) and the
   AutoShot test's cut video, generated here;
3. the accuracy set (`benchmarks/accuracy_set.py`; `--set DIR`, default its cache), as the pipeline
   decodes it.
For each: max |dp|, frames within the margin of the threshold (what re-decision recomputes) and
decisions int8 alone would flip. Needs AutoShot's weights (`streamclip models fetch --model autoshot`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # media.py: the lavfi generators
import media
from accuracy_bench import decode_48x27
from detector_bench import machine

from streamclip.detector import calibration
from streamclip.detector.catalog import DEFAULT_THRESHOLDS
from streamclip.detector.engines import OpenVINOEngine
from streamclip.detector.network import WindowBuilder
from streamclip.detector.redecision import MARGIN

MODEL = "autoshot"
THRESHOLD = DEFAULT_THRESHOLDS[MODEL]
DEFAULT_SET = Path(__file__).parent / ".cache" / "accuracy-set" / "full"
CUT_SCENES = media.DEFAULT_SCENES[:4]  # tests/test_autoshot.py's cut video


def probabilities(engine: OpenVINOEngine, frames: np.ndarray) -> np.ndarray:
    builder = WindowBuilder()
    out = [engine.predict_windows(window[None])[0] for _, window in builder.push(frames) + builder.finish()]
    return np.concatenate(out)[: len(frames)]


def report(name: str, fp32: np.ndarray, int8: np.ndarray) -> float:
    worst = float(np.abs(int8 - fp32).max())
    near = int((np.abs(int8 - THRESHOLD) <= MARGIN).sum())
    flipped = int(((int8 > THRESHOLD) != (fp32 > THRESHOLD)).sum())
    print(f"| {name} | {fp32.size} | {worst:.3f} | {near} | {flipped} |")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="the accuracy set's folder")
    args = parser.parse_args()
    print(machine())
    fp32 = OpenVINOEngine.from_cache("fp32", model=MODEL)
    int8 = OpenVINOEngine.from_cache("int8", model=MODEL)  # bare: no re-decision
    print(f"threshold {THRESHOLD}, margin {MARGIN}\n")
    print("| material | frames | max abs dp int8 vs fp32 | frames within the margin | decisions int8 alone flips |")
    print("|---|---:|---:|---:|---:|")
    worst: dict[str, float] = {}
    windows = np.concatenate(calibration.calibration_windows(calibration.COUNT))
    worst["calibration"] = report(
        f"calibration ({calibration.COUNT} windows)", fp32.predict_windows(windows), int8.predict_windows(windows)
    )
    with tempfile.TemporaryDirectory() as tmp:
        made = {
            name: media.make_transition_video(Path(tmp) / f"{name}.mp4", scenes=scenes, transitions=kinds, fps=30).path
            for name, (scenes, kinds) in media.TRANSITION_VIDEOS.items()
        }
        made["cuts"] = media.make_cut_video(Path(tmp) / "cuts.mp4", scenes=CUT_SCENES).path
        generated = []
        for name, path in made.items():
            frames = media.reference_frames(path, 100_000)
            generated.append(report(name, probabilities(fp32, frames), probabilities(int8, frames)))
        worst["generated"] = max(generated)
    accuracy = []
    for video in sorted(args.set.glob("*.mp4")):
        frames = decode_48x27(video)
        accuracy.append(report(f"accuracy set: {video.name}", probabilities(fp32, frames), probabilities(int8, frames)))
    if accuracy:
        worst["accuracy set"] = max(accuracy)
    print("\nworst per material: " + ", ".join(f"{k} {v:.3f}" for k, v in worst.items()))
    print(f"margin {MARGIN} {'holds' if max(worst.values()) < MARGIN else 'DOES NOT HOLD'}")


if __name__ == "__main__":
    main()
