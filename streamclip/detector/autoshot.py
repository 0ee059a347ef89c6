"""AutoShot (Zhu et al., CVPR workshops 2023): the network its authors found by architecture search over
TransNetV2's design, and the torch engine that runs it.

The input, the windowing and the decision are TransNetV2's: 48x27 RGB frames, 100-frame windows
stepping by 50 of which the middle 50 predictions are kept, and the sigmoid of the single-frame head
compared with a threshold (its authors' is 0.296, `streamclip.detector.catalog`). So the
`WindowBuilder`, the engines' window shape and everything downstream are the same for both models.

The network, as its checkpoint (`ckpt_0_200_0.pth`, MIT) describes it:
  - six 3D-convolution blocks on `[B, 3, T, 27, 48]`; each block runs branches side by side, each a
    (1,3,3) spatial convolution then a (3,1,1) temporal one dilated 1, 2, 4, 8 (16), concatenated,
    batch-normalised, ReLU. Blocks 1 to 3 share one spatial convolution between their branches.
    Blocks 0, 2 and 4 open a residual pair that blocks 1, 3 and 5 close; each pair ends in a 2x2
    spatial average pool (27x48 -> 13x24 -> 6x12 -> 3x6), and its output feeds the similarity head;
  - TransNetV2's heads: colour-histogram similarities and learnt-feature similarities between each
    frame and its 50 neighbours either side, concatenated with the last block's features;
  - one hidden layer (ReLU) and the single-frame logit. (The checkpoint also holds a many-hot head and
    a layer for an attention branch that the searched architecture leaves out: neither is loaded.)

Parameter names follow the checkpoint, so its state dict loads as it is. Imports torch at its top:
only the torch engine and the model preparation import this module.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as functional
from torch import nn

from streamclip.detector.network import (
    DetectorSettings,
    Frames,
    Probabilities,
    predict_with_torch,
    usable_device,
)
from streamclip.errors import ModelError

LOOKUP_WINDOW = 101  # each frame is compared with the 50 frames before and after it
# Keys of the checkpoint this network does not use: the many-hot head, and the hidden layer of the
# variant with an attention branch (the searched architecture has none: its hidden layer is `fc1_0`).
UNUSED_KEYS = ("cls_layer2.", "fc1.")


class _Linear(nn.Module):
    """A linear layer under the checkpoint's name (`<name>.linear`), with an optional ReLU."""

    def __init__(self, inputs: int, outputs: int, *, relu: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs, outputs)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return functional.relu(y) if self.relu else y


class _Branch(nn.Module):
    """A (1,3,3) spatial convolution (unless the block shares one) then a dilated (3,1,1) temporal one."""

    def __init__(self, inputs: int, middle: int, outputs: int, dilation: int, *, spatial: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if spatial:
            layers.append(nn.Conv3d(inputs, middle, (1, 3, 3), padding=(0, 1, 1), bias=False))
        reach = (dilation, 0, 0)  # padding: the output keeps every frame
        layers.append(nn.Conv3d(middle, outputs, (3, 1, 1), padding=reach, dilation=(dilation, 1, 1), bias=False))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class _Block(nn.Module):
    """Branches with temporal dilations 1, 2, 4, ...: outputs `4 * filters` channels, split evenly
    between them (the last takes the remainder). With `shared`, one spatial convolution (`share`)
    feeds every branch instead of one per branch."""

    def __init__(self, inputs: int, filters: int, multiplier: int, dilations: int, *, shared: bool) -> None:
        super().__init__()
        middle, total = multiplier * filters, 4 * filters
        each = total // dilations
        widths = [each] * (dilations - 1) + [total - each * (dilations - 1)]
        self.share = nn.Conv3d(inputs, middle, (1, 3, 3), padding=(0, 1, 1), bias=False) if shared else None
        self.conv_blocks = nn.ModuleList(
            _Branch(inputs, middle, width, 2**i, spatial=not shared) for i, width in enumerate(widths)
        )
        self.batch_norm = nn.BatchNorm3d(total, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.share is not None:
            x = self.share(x)
        y = torch.cat([branch(x) for branch in self.conv_blocks], 1)
        return functional.relu(self.batch_norm(y))


class AutoShotNetwork(nn.Module):
    """`[B, T, 27, 48, 3]` uint8 frames -> single-frame logits `[B, T, 1]`."""

    def __init__(self) -> None:
        super().__init__()
        self.Layer_0_3 = _Block(3, 16, 1, 4, shared=False)
        self.Layer_1_8 = _Block(64, 16, 4, 5, shared=True)
        self.Layer_2_8 = _Block(64, 32, 4, 5, shared=True)
        self.Layer_3_8 = _Block(128, 32, 4, 5, shared=True)
        self.Layer_4_13 = _Block(128, 64, 3, 5, shared=False)
        self.Layer_5_12 = _Block(256, 64, 2, 5, shared=False)
        self.frame_sim_layer = _FrameSimilarity(64 + 128 + 256)
        self.color_hist_layer = _ColorHistograms()
        self.fc1_0 = _Linear(128 + 128 + 256 * 3 * 6, 1024, relu=True)
        self.cls_layer1 = _Linear(1024, 1, relu=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, time = frames.shape[:2]
        x = frames.permute(0, 4, 1, 2, 3).float() / 255.0  # [B, 3, T, H, W]
        pairs = [
            (self.Layer_0_3, self.Layer_1_8),
            (self.Layer_2_8, self.Layer_3_8),
            (self.Layer_4_13, self.Layer_5_12),
        ]
        pooled = []
        for opening, closing in pairs:
            shortcut = opening(x)
            x = functional.avg_pool3d(shortcut + closing(shortcut), (1, 2, 2))
            pooled.append(x)
        features = x.permute(0, 2, 3, 4, 1).reshape(batch, time, -1)  # (H, W, C) order, as fc1_0 expects
        x = torch.cat([self.color_hist_layer(frames), self.frame_sim_layer(pooled), features], 2)
        logits: torch.Tensor = self.cls_layer1(self.fc1_0(x))
        return logits


def _neighbour_similarities(x: torch.Tensor) -> torch.Tensor:
    """`[B, T, C]` unit vectors -> `[B, T, 101]`: each frame's dot product with frames t-50 .. t+50 (0 outside)."""
    batch, time = x.shape[:2]
    similarities = torch.matmul(x, x.transpose(1, 2))
    half = (LOOKUP_WINDOW - 1) // 2
    padded = functional.pad(similarities, [half, half])
    lookup = torch.arange(LOOKUP_WINDOW, device=x.device)
    times = torch.arange(time, device=x.device).view(1, time, 1)
    rows = torch.arange(batch, device=x.device).view(batch, 1, 1)
    return padded[rows, times, times + lookup]


class _FrameSimilarity(nn.Module):
    """Similarities of the frames' learnt features (spatial means of the three pooled blocks)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.projection = _Linear(channels, 128, relu=False)
        self.fc = _Linear(LOOKUP_WINDOW, 128, relu=True)

    def forward(self, pooled: Sequence[torch.Tensor]) -> torch.Tensor:
        means = torch.cat([block.mean(dim=[3, 4]) for block in pooled], 1).transpose(1, 2)  # [B, T, C]
        projected = functional.normalize(self.projection(means), p=2, dim=2)
        out: torch.Tensor = self.fc(_neighbour_similarities(projected))
        return out


class _ColorHistograms(nn.Module):
    """Similarities of the frames' 512-bin RGB histograms (3 bits per channel)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = _Linear(LOOKUP_WINDOW, 128, relu=True)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, time = frames.shape[:2]
        rgb = frames.to(torch.int64).reshape(batch * time, -1, 3) >> 5
        bins = (rgb[..., 0] << 6) + (rgb[..., 1] << 3) + rgb[..., 2]
        bins = bins + torch.arange(batch * time, device=frames.device).view(-1, 1) * 512  # one range per frame
        counts = torch.zeros(batch * time * 512, device=frames.device)
        counts = counts.scatter_add(0, bins.reshape(-1), torch.ones(bins.numel(), device=frames.device))
        histograms = counts.view(batch, time, 512)
        histograms = histograms / torch.norm(histograms, dim=2, keepdim=True)
        out: torch.Tensor = self.fc(_neighbour_similarities(histograms))
        return out


def load_network(checkpoint: Path, device: str = "cpu") -> AutoShotNetwork:
    """The network with the checkpoint's weights, in eval mode; every weight it needs must be there."""
    try:
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
    except Exception as exc:
        raise ModelError(f"could not read the AutoShot checkpoint {checkpoint}: {exc}") from exc
    state = saved.get("net", saved) if isinstance(saved, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"{checkpoint} is not an AutoShot checkpoint (no state dict)")
    wanted = {key: value for key, value in state.items() if not key.startswith(UNUSED_KEYS)}
    network = AutoShotNetwork().to(device)
    try:
        network.load_state_dict(wanted, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{checkpoint} does not fit the AutoShot network: {exc}") from exc
    return network.eval()


class AutoShotModel:
    """The torch engine for AutoShot, in fp32 (on the CPU or a GPU)."""

    def __init__(self, settings: DetectorSettings, checkpoint: Path) -> None:
        if settings.precision != "fp32":
            raise ModelError(f"AutoShot runs precision fp32 with engine 'torch', not {settings.precision!r}")
        self.device = usable_device(settings.device)
        self.precision = "fp32"
        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)
        self._net = load_network(checkpoint, self.device)
        self._lock = threading.Lock()

    def predict_windows(self, windows: Frames) -> Probabilities:
        """Single-frame probabilities for `[B, 100, 27, 48, 3]` windows -> `[B, 50]` (middle 50)."""
        return predict_with_torch(self._net, windows, device=self.device, precision="fp32", lock=self._lock)


@functools.cache
def shared_autoshot(settings: DetectorSettings, checkpoint: Path) -> AutoShotModel:
    """One AutoShot model per settings per process."""
    return AutoShotModel(settings, checkpoint)
