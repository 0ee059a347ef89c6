"""The detector's "fast" precision (FastTransNet) decides like the reference fp32; bf16 only where native."""

from __future__ import annotations

import logging
import subprocess

import media
import numpy as np
import pytest

from streamclip.detector.engines import shot_probabilities
from streamclip.detector.network import (
    NATIVE_BF16_FLAGS,
    DetectorSettings,
    ShotModel,
    cpu_flags,
    resolve_precision,
    shared_model,
)
from streamclip.ffmpeg import children

THRESHOLD = 0.4
AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"})


def generated_cut_frames() -> tuple[np.ndarray, list[int]]:
    """120 frames at 48x27: three lavfi scenes of 40 frames, hard cuts at 40 and 80."""
    sources = ["testsrc2", "mandelbrot", "smptebars"]
    argv = [children.ffmpeg_binary(), "-v", "error"]
    for source in sources:
        argv += ["-f", "lavfi", "-t", "1.6", "-i", f"{source}=s=320x180:r=25"]
    graph = "".join(f"[{i}:v]setsar=1[s{i}];" for i in range(3)) + "[s0][s1][s2]concat=n=3:v=1:a=0[v]"
    argv += ["-filter_complex", graph, "-map", "[v]", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "48x27", "pipe:"]
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, 27, 48, 3), [40, 80]


def transitions(probs: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(probs > THRESHOLD)]


def test_fast_flags_the_same_transitions_as_fp32_on_the_packages_real_video() -> None:
    frames = media.reference_frames(media.package_test_video(), 150)
    exact = shot_probabilities(frames, precision="fp32")
    fast = shot_probabilities(frames, precision="fast")
    assert transitions(fast) == transitions(exact)
    assert transitions(exact), "a real music video has cuts in its first 6 s"
    np.testing.assert_allclose(fast, exact, atol=1e-5, rtol=0)


def test_fast_flags_the_same_transitions_as_fp32_on_generated_cuts() -> None:
    frames, cuts = generated_cut_frames()
    assert len(frames) == 120
    exact = shot_probabilities(frames, precision="fp32", batch_windows=4)
    fast = shot_probabilities(frames, precision="fast", batch_windows=4)
    assert transitions(fast) == transitions(exact)
    np.testing.assert_allclose(fast, exact, atol=1e-5, rtol=0)
    for cut in cuts:  # the detector sees each generated cut
        assert any(abs(t - cut) <= 1 for t in transitions(exact)), (cut, transitions(exact))


def test_fast_keeps_the_predict_windows_contract_for_any_batch() -> None:
    model = shared_model(DetectorSettings(precision="fast"))
    assert model.precision == "fast"
    rng = np.random.default_rng(3)
    windows = rng.integers(0, 255, (2, 100, 27, 48, 3), dtype=np.uint8)
    together = model.predict_windows(windows)
    assert together.shape == (2, 50)
    assert together.dtype == np.float32
    alone = np.concatenate([model.predict_windows(windows[i : i + 1]) for i in range(2)])
    np.testing.assert_allclose(together, alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("requested", "device", "flags", "expected"),
    [
        ("fp32", "cpu", AVX2_ONLY, "fp32"),
        ("fast", "cpu", AVX2_ONLY, "fast"),
        ("bf16", "cpu", AVX2_ONLY, "fp32"),  # emulated bf16 is ~100x slower: refused
        ("bf16", "cpu", frozenset(), "fp32"),  # flags unknown: refused
        ("bf16", "cpu", AVX2_ONLY | {"avx512f", "avx512bw"}, "fp32"),  # AVX-512 alone is not bf16
        ("bf16", "cpu", AVX2_ONLY | {"avx512f", "avx512_bf16"}, "bf16"),
        ("bf16", "cpu", AVX2_ONLY | {"amx_bf16", "amx_tile"}, "bf16"),
        ("bf16", "cpu", frozenset({"fp", "asimd", "bf16"}), "bf16"),  # Arm Features
        ("bf16", "cuda", frozenset(), "bf16"),  # GPUs do bf16 whatever the host CPU
        ("fast", "cuda:0", frozenset(), "fp32"),  # FastTransNet is a CPU path
    ],
)
def test_precision_selection(requested: str, device: str, flags: frozenset[str], expected: str) -> None:
    assert resolve_precision(requested, device, flags) == expected


def test_refusing_bf16_says_why(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="streamclip.detector.network"):
        assert resolve_precision("bf16", "cpu", AVX2_ONLY) == "fp32"
    assert "no native bf16" in caplog.text
    assert NATIVE_BF16_FLAGS & {"avx512_bf16", "amx_bf16"}


def test_an_unknown_precision_is_an_error() -> None:
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", "cpu", AVX2_ONLY)


def test_a_model_on_this_cpu_never_runs_emulated_bf16() -> None:
    model = ShotModel(DetectorSettings(precision="bf16"))
    expected = "bf16" if cpu_flags() & NATIVE_BF16_FLAGS else "fp32"
    assert model.precision == expected
