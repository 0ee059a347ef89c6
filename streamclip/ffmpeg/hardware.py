"""Choosing what the machine can run: GPU paths with a logged CPU fallback, encoders ffmpeg has."""

from __future__ import annotations

import logging

import msgspec

from streamclip.config import PipelineConfig
from streamclip.detector.network import cuda_available
from streamclip.errors import ConfigError
from streamclip.ffmpeg.children import available_encoders, ffmpeg_binary

log = logging.getLogger(__name__)
CPU_ENCODER = "libx264"


def resolve_hardware(config: PipelineConfig, *, has_gpu: bool | None = None) -> PipelineConfig:
    """Replace GPU settings the machine cannot honour by their CPU equivalents, with a warning each."""
    decode, detector, transcode = config.decode, config.detector, config.transcode
    wants_gpu = decode.backend == "nvdec" or detector.device.startswith("cuda") or transcode.encoder == "h264_nvenc"
    if not wants_gpu:
        return config  # nothing to check: spares the seconds `import torch` takes (no model in fixed stride)
    gpu = cuda_available() if has_gpu is None else has_gpu
    if gpu:
        return config
    if decode.backend == "nvdec":
        log.warning("decode.backend = 'nvdec' but no NVIDIA GPU is available: decoding on the CPU")
        decode = msgspec.structs.replace(decode, backend="cpu")
    if detector.device.startswith("cuda"):
        log.warning("detector.device = %r but no CUDA GPU is available: detecting on the CPU", detector.device)
        detector = msgspec.structs.replace(detector, device="cpu")
    if transcode.encoder == "h264_nvenc":
        log.warning("transcode.encoder = 'h264_nvenc' but no NVIDIA GPU is available: using %s", CPU_ENCODER)
        transcode = msgspec.structs.replace(transcode, encoder=CPU_ENCODER, use_hwaccel=False, preset="")
    return msgspec.structs.replace(config, decode=decode, detector=detector, transcode=transcode)


def check_encoder(name: str) -> None:
    """Fail early, naming the binary, when this ffmpeg build lacks the encoder."""
    encoders = available_encoders()
    if name not in encoders:
        usable = ", ".join(e for e in ("libx264", "libopenh264", "h264_nvenc", "libvpx-vp9") if e in encoders)
        raise ConfigError(
            f"transcode.encoder = {name!r} is not available in {ffmpeg_binary()} (this build has: {usable})"
        )
