"""Running a detector engine the way the pipeline does, for the accuracy gates (tests/test_detector_accuracy.py
for TransNetV2, tests/test_autoshot.py for AutoShot): window by window, re-deciding where the
precision is fast, keeping the fast engine's own numbers beside what the pipeline gets."""

from __future__ import annotations

import dataclasses
import hashlib
from fractions import Fraction
from typing import ClassVar

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


class Remembered:
    """An fp32 engine that answers a window it has answered before, in this process, from memory.

    A gate runs fp32 over every video, then int8, whose re-decision asks fp32 for some of the same
    windows again: the same input to the same deterministic engine, so the same numbers, without the
    second forward pass (~0.85 CPU-s a window on one AVX2 core)."""

    answered: ClassVar[dict[tuple[str, bytes], np.ndarray]] = {}  # (model, digest of the window) -> its probabilities

    def __init__(self, engine: Engine, model: str) -> None:
        self.engine, self.precision, self.model = engine, engine.precision, model

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        rows = []
        for window in windows:
            key = (self.model, hashlib.blake2b(np.ascontiguousarray(window).data, digest_size=16).digest())
            if key not in self.answered:
                self.answered[key] = self.engine.predict_windows(window[None])[0].copy()
            rows.append(self.answered[key])
        return np.stack(rows)


def run_openvino(precision: str, frames: np.ndarray, threshold: float, model: str = "transnetv2") -> Run:
    """The engine the pipeline runs for `precision` (re-deciding where fast), window by window as the actor does;
    fp32 windows are remembered (`Remembered`), so that a re-decision after the fp32 run reads them back."""
    settings = DetectorSettings(engine="openvino", precision=precision, model=model)

    def load(wanted: DetectorSettings) -> Engine:
        engine = shared_engine(wanted)
        return Remembered(engine, model) if wanted.precision == "fp32" else engine

    recording = Recording(load(settings))
    engine = deciding_engine(settings, threshold, lambda s: recording if s == settings else load(s))
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
