"""The accuracy set's ground truth lies where its frames say: solid-colour shots joined by every kind of transition."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import media
import numpy as np

from streamclip.evaluation.truth import read_truth, truth_path

COLOURS = ["red", "blue", "green", "yellow", "white", "magenta"]
PURE = 6.0  # mean |rgb difference| to the shot's own colour below which a frame shows that shot only


def accuracy_set() -> ModuleType:
    path = Path(__file__).parent.parent / "benchmarks" / "accuracy_set.py"
    spec = importlib.util.spec_from_file_location("accuracy_set", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_transition_lies_where_the_truth_says(tmp_path: Path) -> None:
    builder = accuracy_set()
    joins = [("cut", 0), ("dissolve", 6), ("fade", 9), ("wipe", 5), ("dissolve", 2)]
    edit = builder.Edit(
        "colours", Fraction(30000, 1001), 63, 35,  # odd size: 4:4:4
        [builder.Shot(f"color=c={c}", 1.0) for c in COLOURS], [builder.Join(k, n) for k, n in joins], "yuv444p",
    )  # fmt: skip
    video = builder.build(edit, tmp_path, {})
    truth = read_truth(truth_path(video))
    frames = decoded_means(video)
    assert len(frames) == truth.frames
    assert [t.kind for t in truth.transitions] == [k for k, _ in joins]
    shot_of_frame = np.full(len(frames), -1)
    for shot, (first, last) in enumerate(truth.shots()):
        shot_of_frame[first : last + 1] = shot
    # Every frame the truth gives a shot shows that shot alone; every transition frame shows none alone.
    assert shot_of_each(frames, truth.shots()) == shot_of_frame.tolist()


def decoded_means(video: Path) -> np.ndarray:
    argv = [media.FFMPEG, "-v", "error", "-i", str(video), "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:"]
    raw = subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout
    means: np.ndarray = np.frombuffer(raw, np.uint8).reshape(-1, 35, 63, 3).astype(np.float64).mean(axis=(1, 2))
    return means


def shot_of_each(frames: np.ndarray, shots: np.ndarray) -> list[int]:
    """For each frame, the shot whose steady colour it shows, or -1 when it shows none alone."""
    steady = np.array([frames[(first + last) // 2] for first, last in shots])
    distances = np.abs(frames[:, None, :] - steady[None, :, :]).mean(axis=2)
    return [int(np.argmin(row)) if row.min() < PURE else -1 for row in distances]
