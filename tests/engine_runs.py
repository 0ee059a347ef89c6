"""Running a detector engine the way the pipeline does, for the accuracy gates (tests/test_detector_accuracy.py
for TransNetV2, tests/test_autoshot.py for AutoShot): window by window, re-deciding where the
precision is fast, keeping the fast engine's own numbers beside what the pipeline gets."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

import streamclip
from streamclip.detector.engines import Engine, deciding_engine, shared_engine
from streamclip.detector.network import DetectorSettings, WindowBuilder
from streamclip.detector.redecision import Redeciding


@dataclasses.dataclass(frozen=True)
class Run:
    probabilities: np.ndarray  # what the pipeline gets (after re-decision)
    fast: np.ndarray  # the fast engine's own probabilities (before re-decision)
    redecided_windows: int


class Recording:
    """An engine as it is, keeping what it returned (the fast engine's own numbers, before re-decision)."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.precision, self.outputs = engine, engine.precision, list[np.ndarray]()

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        probs = self.engine.predict_windows(windows)
        self.outputs.append(probs.copy())
        return probs


def run_openvino(precision: str, frames: np.ndarray, threshold: float, model: str = "transnetv2") -> Run:
    """The engine the pipeline runs for `precision` (re-deciding where fast), window by window as the actor does."""
    settings = DetectorSettings(engine="openvino", precision=precision, model=model)
    recording = Recording(shared_engine(settings))
    engine = deciding_engine(settings, threshold, lambda s: recording if s == settings else shared_engine(s))
    builder = WindowBuilder()
    out = [engine.predict_windows(window[None])[0] for _, window in builder.push(frames) + builder.finish()]
    redecided = engine.redecided_windows if isinstance(engine, Redeciding) else 0
    return Run(
        np.concatenate(out)[: len(frames)], np.concatenate(recording.outputs, axis=None)[: len(frames)], redecided
    )


def decisions(probabilities: np.ndarray, fps: float | Fraction, threshold: float) -> dict[str, object]:
    """What a split takes from the probabilities: flagged frames, scenes, and clips under the default rules."""
    mask = probabilities > threshold
    return {
        "flagged": np.flatnonzero(mask).tolist(),
        "scenes": streamclip.scene_spans(mask, float(fps), min_length_s=None, max_length_s=None, crop_s=None),
        "clips": streamclip.scene_spans(mask, float(fps)),
    }
