"""The detector's side of the GPU path: decoded surfaces to 48x27 frames on the GPU, and windows of
them, without a copy to the host.

- `frames_from_dlpack`: PyNvVideoCodec's decoded frames (any DLPack producer: `__dlpack__`) as
  one `[n, H, W, 3]` uint8 tensor on their own device; a frame is only borrowed (the decoder
  reuses its surface at its next batch), so the stack is taken before the next fetch.
- `resize_for_detector`: `[n, H, W, 3]` -> `[n, 27, 48, 3]` uint8 with bicubic interpolation and
  antialiasing on the tensor's device (see "Where pixels can differ" below).
- `DeviceWindowBuilder`: `network.WindowBuilder`'s windows (the same padding and steps) over
  tensors, so windows stay on the GPU until the forward pass.

Where pixels can differ from the CPU decoder (ffmpeg: swscale, `-s 48x27 -pix_fmt rgb24`,
bicubic by default): swscale scales the Y and chroma planes and converts to RGB *after* scaling,
in fixed point, with its bicubic (B=0, C=0.6) whose support widens with the downscale factor;
here NVDEC's surface is converted to RGB at full size (PyNvVideoCodec's colour matrix) and then
scaled with torch's bicubic (a=-0.75) with `antialias=True` (the same widening). Expect
differences of a few levels per pixel on edges and saturated colours, none on flat areas;
`scripts/gpu_check.sh` checks that the detector's decisions (the spans) stay the same.

torch is imported inside functions only, as in `network`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamclip.detector.network import FRAME_SHAPE, FRONT_PAD, STEP, WINDOW

if TYPE_CHECKING:
    import torch

DETECTOR_HEIGHT, DETECTOR_WIDTH = FRAME_SHAPE[0], FRAME_SHAPE[1]


@functools.cache
def torch_sees_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def frames_from_dlpack(frames: Sequence[Any], *, planar: bool) -> torch.Tensor:
    """Decoded frames (DLPack producers: PyNvVideoCodec frames, CUDA or CPU tensors) as one
    `[n, H, W, 3]` uint8 tensor on their device. `planar`: each frame is `[3, H, W]` (RGBP)."""
    import torch

    if not frames:
        raise ValueError("no frames to hand over")
    from torch.utils.dlpack import from_dlpack

    views = [from_dlpack(frame) for frame in frames]  # no copy: views of the decoder's surfaces
    stacked = torch.stack(views)  # one copy on the device: the decoder may reuse its surfaces
    if planar:
        stacked = stacked.permute(0, 2, 3, 1)
    if stacked.ndim != 4 or stacked.shape[-1] != 3 or stacked.dtype != torch.uint8:
        raise ValueError(f"decoded frames must be uint8 RGB [H, W, 3] (or [3, H, W]), got {tuple(views[0].shape)}")
    return stacked


def resize_for_detector(frames: torch.Tensor) -> torch.Tensor:
    """`[n, H, W, 3]` uint8 RGB -> `[n, 27, 48, 3]` uint8, bicubic with antialiasing, on the frames' device."""
    import torch
    import torch.nn.functional as functional

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 [n, H, W, 3], got {frames.dtype} {tuple(frames.shape)}")
    planes = frames.permute(0, 3, 1, 2).float()
    size = (DETECTOR_HEIGHT, DETECTOR_WIDTH)
    small = functional.interpolate(planes, size=size, mode="bicubic", align_corners=False, antialias=True)
    return small.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


@dataclass
class DeviceWindowBuilder:
    """`network.WindowBuilder` over torch tensors: the same windows, left on the frames' device."""

    frames_seen: int = 0
    windows_made: int = 0
    _buffer: Any = None  # torch.Tensor [k, 27, 48, 3] once the first frames arrived

    def push(self, frames: Any) -> list[tuple[int, torch.Tensor]]:
        import torch

        if frames.ndim != 4 or tuple(frames.shape[1:]) != FRAME_SHAPE:
            raise ValueError(f"frames must be [N, 27, 48, 3], got {tuple(frames.shape)}")
        if len(frames) == 0:
            return []
        pieces = [frames] if self._buffer is None else [self._buffer, frames]
        if self.frames_seen == 0:
            pieces.insert(0, frames[:1].expand(FRONT_PAD, *FRAME_SHAPE))
        self.frames_seen += len(frames)
        self._buffer = torch.cat(pieces)
        return self._drain()

    def finish(self) -> list[tuple[int, torch.Tensor]]:
        if self.frames_seen == 0:
            return []
        import torch

        needed = -(-self.frames_seen // STEP)
        missing = (needed - self.windows_made) * STEP + STEP - len(self._buffer)
        if missing > 0:
            self._buffer = torch.cat([self._buffer, self._buffer[-1:].expand(missing, *FRAME_SHAPE)])
        return self._drain()

    def _drain(self) -> list[tuple[int, torch.Tensor]]:
        windows = []
        while len(self._buffer) >= WINDOW:
            windows.append((self.windows_made * STEP, self._buffer[:WINDOW].clone()))
            self._buffer = self._buffer[STEP:]
            self.windows_made += 1
        return windows


def stack_windows(windows: Sequence[Any]) -> Any:
    """Windows of one batch as one array: numpy arrays stacked by numpy; if any is a tensor (a video
    decoded by "pynvc" in a batch with one that went to ffmpeg), all as one tensor on its device."""
    import numpy as np

    on_device = [w for w in windows if not isinstance(w, np.ndarray)]
    if not on_device:
        return np.stack(windows)
    import torch

    device = on_device[0].device
    return torch.stack([torch.as_tensor(w).to(device) for w in windows])
