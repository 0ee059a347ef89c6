"""The reference's decisions on a fast engine: windows with a frame near the threshold are recomputed in fp32.

int8 (and bf16 where the CPU computes it natively) move each probability by a little, and a slow
ramp (a dissolve, a fade) can carry a frame across the threshold: int8 once started a clip one frame
earlier than fp32. A decision (`p > threshold`) can only differ from fp32's where the fast
probability lies within that error of the threshold, so `Redeciding` runs the fast engine, finds the
windows holding a frame within `margin` of the threshold, and recomputes exactly those windows with
the fp32 engine (loaded on first need: footage that never comes near the threshold never loads it).
Their 50 frames take fp32's probabilities. Every decision then equals fp32's by construction, as
long as |fast - fp32| < margin on every frame: a frame left alone has p > threshold + margin (so
fp32 > threshold) or p < threshold - margin (so fp32 < threshold).

The unit is the window, not the frame: the network sees 100 frames and keeps the middle 50, each
frame's probability comes from exactly one window, and recomputing one frame costs its window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from streamclip.detector.network import Frames, Probabilities


class Engine(Protocol):  # `engines.Engine`, restated: engines imports this module
    precision: str

    def predict_windows(self, windows: Frames) -> Probabilities: ...


# The precisions whose probabilities differ from fp32's by more than float rounding.
FAST_PRECISIONS = frozenset({"int8", "bf16"})

# Above the worst |int8 - fp32| measured, with headroom (benchmarks/RESULTS.md, "int8 with the
# reference's decisions"): 0.191 on 12 generated videos of dissolves, fades through black, wipes
# and cuts (8 to 40 frames, 160x90 to 640x360, 30 fps; 107 windows) with the int8 model calibrated
# on gradual transitions (0.232 with the earlier calibration, which flipped 6 decisions there), and
# 0.07 on the whole music video. The error is largest on slow ramps, exactly where decisions sit
# near the threshold. bf16's worst measured is 0.005. The same margin serves AutoShot (its threshold
# 0.296): its int8 differs from its fp32 by at most 0.180 on the accuracy set, 0.064 on the
# calibration windows and 0.041 on the test gate's generated videos (RESULTS.md, "AutoShot int8 with
# re-decision"), so one margin per model is not needed (`streamclip.detector.catalog`).
MARGIN = 0.25


class Redeciding:
    """A fast engine whose near-threshold windows are recomputed by the fp32 engine (see module docstring).

    Counts what it does: `statistics()` gives windows run, windows recomputed, frames that were near
    the threshold, decisions the recomputation changed, and the seconds it took.
    """

    def __init__(
        self, fast: Engine, load_reference: Callable[[], Engine], threshold: float, margin: float = MARGIN
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"the decision threshold must lie in (0, 1), got {threshold}")
        if margin <= 0.0:
            raise ValueError(f"the re-decision margin must be positive, got {margin}")
        self.fast = fast
        self.precision = fast.precision
        self.threshold = threshold
        self.margin = margin
        self._load_reference = load_reference
        self._reference: Engine | None = None
        self._lock = threading.Lock()  # counters and the lazy load: pipelines may share one instance
        self.windows = 0
        self.redecided_windows = 0
        self.near_frames = 0
        self.changed_frames = 0
        self.redecide_s = 0.0

    def predict_windows(self, windows: Frames) -> Probabilities:
        probs = self.fast.predict_windows(windows)
        near = np.abs(probs - self.threshold) <= self.margin  # [B, 50]
        rows = np.flatnonzero(near.any(axis=1))
        started = time.monotonic()
        if len(rows):
            exact = self._reference_engine().predict_windows(windows[rows])
            changed = int(((probs[rows] > self.threshold) != (exact > self.threshold)).sum())
            probs[rows] = exact
        with self._lock:
            self.windows += len(windows)
            if len(rows):
                self.redecided_windows += len(rows)
                self.near_frames += int(near.sum())
                self.changed_frames += changed
                self.redecide_s += time.monotonic() - started
        return probs

    def _reference_engine(self) -> Engine:
        with self._lock:
            if self._reference is None:
                self._reference = self._load_reference()
            return self._reference

    def statistics(self) -> dict[str, object]:
        return redecision_statistics(self)


def redecision_statistics(engine: object) -> dict[str, object]:
    """The re-decision counters of `engine` (zeros for an engine that runs fp32 itself): stable keys for metrics."""
    found = engine if isinstance(engine, Redeciding) else None
    return {
        "redecided_windows": found.redecided_windows if found else 0,
        "redecided_near_frames": found.near_frames if found else 0,
        "redecided_changed_frames": found.changed_frames if found else 0,
        "redecide_s": round(found.redecide_s, 3) if found else 0.0,
    }


def keep_reference_decisions(
    engine: Engine, load_reference: Callable[[], Engine], threshold: float, margin: float = MARGIN
) -> Engine:
    """`engine` itself when it runs fp32 (or an exact reorganisation of it), else `Redeciding` around it."""
    if engine.precision not in FAST_PRECISIONS:
        return engine
    return Redeciding(engine, load_reference, threshold, margin)
