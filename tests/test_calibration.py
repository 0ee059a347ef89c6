"""The int8 calibration windows: synthesised, the same bytes on every machine, with transitions in them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from streamclip.detector import models
from streamclip.detector.calibration import COUNT as CALIBRATION_WINDOWS
from streamclip.detector.calibration import calibration_windows, fingerprint

# The bytes the prepared int8 model is calibrated on. numpy keeps PCG64's stream stable and the
# synthesis is integer arithmetic only; if this changes, every machine's int8 model changes with it.
PINNED = "96ec2dfff1a7ff924e6b9ee57de20e73c39596693bca8ac58525921841f37dfc"


def test_the_windows_are_the_pinned_bytes() -> None:
    windows = calibration_windows(CALIBRATION_WINDOWS)
    assert CALIBRATION_WINDOWS == 16
    assert hashlib.sha256(b"".join(w.tobytes() for w in windows)).hexdigest() == PINNED


def test_the_int8_models_key_names_the_calibration_bytes_so_a_new_set_is_a_new_model() -> None:
    assert fingerprint() == PINNED[:12]
    assert f"cal{PINNED[:12]}" in models.model_key("int8")
    assert "cal" not in models.model_key("fp32")
    assert fingerprint(CALIBRATION_WINDOWS, seed=1) != fingerprint()


def test_windows_are_detector_input_with_cuts_and_still_stretches() -> None:
    windows = calibration_windows(4)
    assert all(w.shape == (1, 100, 27, 48, 3) and w.dtype == np.uint8 for w in windows)
    for window in windows:
        change = np.abs(np.diff(window[0].astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
        assert change.max() > 40, "a hard cut somewhere"
        assert (change < 20).sum() > 10, "and scenes in between"
    assert calibration_windows(2)[1].tobytes() == calibration_windows(4)[1].tobytes()  # a prefix of the sequence


def test_no_windows_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        calibration_windows(0)
