"""Re-decision: a fast engine's windows with a frame near the threshold are recomputed by fp32, the others kept.

Fake engines (unit tests of the rule only; tests/test_detector_accuracy.py runs it on the real int8
and fp32 models): each returns, for each frame of a window's middle 50, pixel (0, 0)'s red value /
255, the fake "fp32" exactly and the fake "int8" shifted by a fixed error, so every probability says
which frame it is and which engine made it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from streamclip.detector.network import FRAME_SHAPE, KEEP, WINDOW
from streamclip.detector.redecision import Redeciding, keep_reference_decisions, redecision_statistics

THRESHOLD = 0.4


class FakeEngine:
    def __init__(self, precision: str, error: float = 0.0) -> None:
        self.precision = precision
        self.error = error
        self.calls: list[int] = []  # windows per call

    def predict_windows(self, windows: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self.calls.append(len(windows))
        return (windows[:, KEEP, 0, 0, 0] / 255 + self.error).astype(np.float32)


def counted(loads: list[int], engine: FakeEngine) -> Callable[[], FakeEngine]:
    def load() -> FakeEngine:
        loads.append(1)
        return engine

    return load


def windows_with(values: list[list[int]]) -> npt.NDArray[np.uint8]:
    """Windows whose middle frames carry these red values (the rest of each window 0)."""
    out = np.zeros((len(values), WINDOW, *FRAME_SHAPE), np.uint8)
    for row, frames in zip(out, values, strict=True):
        row[KEEP.start : KEEP.start + len(frames), 0, 0, 0] = frames
    return out


def test_only_windows_with_a_frame_near_the_threshold_are_recomputed_and_take_fp32s_numbers() -> None:
    fast, fp32 = FakeEngine("int8", error=-0.03), FakeEngine("fp32")
    loads: list[int] = []
    engine = Redeciding(fast, counted(loads, fp32), THRESHOLD, margin=0.05)
    # 0.4 * 255 = 102: red 104 is 0.408 in fp32 and 0.378 in "int8" (a flipped decision); 230 is far above
    windows = windows_with([[0, 230, 0], [0, 104, 0], [0, 0, 0], [98, 0, 0]])
    probs = engine.predict_windows(windows)
    exact = FakeEngine("fp32").predict_windows(windows)
    np.testing.assert_array_equal(probs[[1, 3]], exact[[1, 3]])  # near the threshold: fp32's numbers
    np.testing.assert_allclose(probs[[0, 2]], exact[[0, 2]] - 0.03, atol=1e-6)  # far: the fast engine's
    assert fp32.calls == [2]  # the two near windows, in one call
    assert (probs > THRESHOLD).tolist() == (exact > THRESHOLD).tolist()
    assert loads == [1]
    assert redecision_statistics(engine) == {
        "redecided_windows": 2,
        "redecided_near_frames": 2,  # 104 -> 0.378 and 98 -> 0.354, within 0.05 of 0.4 (the others are not)
        "redecided_changed_frames": 1,  # 104: int8 said no, fp32 yes
        "redecide_s": pytest.approx(engine.redecide_s, abs=1e-3),
    }
    assert engine.windows == 4


def test_the_fp32_engine_is_loaded_only_when_a_frame_comes_near_the_threshold() -> None:
    loads: list[int] = []
    engine = Redeciding(FakeEngine("int8"), counted(loads, FakeEngine("fp32")), THRESHOLD, margin=0.05)
    engine.predict_windows(windows_with([[0, 255, 0, 0], [10, 20, 30]]))
    assert loads == []
    assert redecision_statistics(engine)["redecided_windows"] == 0
    engine.predict_windows(windows_with([[100]]))
    engine.predict_windows(windows_with([[103]]))
    assert loads == [1]  # once, however many windows follow


def test_an_fp32_engine_is_used_as_it_is_and_counts_nothing() -> None:
    fp32 = FakeEngine("fp32")
    assert keep_reference_decisions(fp32, lambda: FakeEngine("fp32"), THRESHOLD) is fp32
    assert isinstance(keep_reference_decisions(FakeEngine("int8"), lambda: fp32, THRESHOLD), Redeciding)
    assert isinstance(keep_reference_decisions(FakeEngine("bf16"), lambda: fp32, THRESHOLD), Redeciding)
    assert redecision_statistics(fp32) == {
        "redecided_windows": 0,
        "redecided_near_frames": 0,
        "redecided_changed_frames": 0,
        "redecide_s": 0.0,
    }


@pytest.mark.parametrize(("threshold", "margin"), [(0.0, 0.1), (1.0, 0.1), (0.4, 0.0)])
def test_a_threshold_outside_0_1_or_no_margin_is_refused(threshold: float, margin: float) -> None:
    with pytest.raises(ValueError, match=r"threshold|margin"):
        Redeciding(FakeEngine("int8"), lambda: FakeEngine("fp32"), threshold, margin)
