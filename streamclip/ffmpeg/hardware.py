"""Choosing what the machine can run: GPU paths with a logged CPU fallback, encoders ffmpeg has.

`plan_hardware` is pure: from a config and what the machine has (`HardwareFacts`) it decides what
runs where and why; every GPU setting it cannot honour becomes its CPU equivalent, listed in
`HardwarePlan.fallbacks`. `resolve_hardware` gathers the facts (only those the config needs),
logs each fallback once as a warning, and returns the config to run. `streamclip probe --hardware`
prints the plan.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from dataclasses import dataclass, field

import msgspec

from streamclip.config import PipelineConfig
from streamclip.errors import ConfigError
from streamclip.ffmpeg import nvenc
from streamclip.ffmpeg.children import available_encoders, available_hwaccels, ffmpeg_binary, run_quietly

log = logging.getLogger(__name__)
CPU_ENCODER = "libx264"
GPU_DECODE = ("nvdec", "pynvc")


@dataclass(frozen=True)
class HardwareFacts:
    """What this machine offers the GPU paths (each gathered only when a setting needs it)."""

    gpus: list[tuple[str, str]] = field(default_factory=list)  # (name, driver version) per NVIDIA GPU
    torch_cuda: bool = False  # torch is a CUDA build and sees a GPU
    pynvc: bool = False  # PyNvVideoCodec is importable
    ffmpeg_cuda: bool = False  # ffmpeg offers `-hwaccel cuda`
    ffmpeg_nvenc: bool = False  # ffmpeg has the h264_nvenc encoder
    nvenc_works: bool | None = None  # a test encode succeeded (None: not tried)


@dataclass(frozen=True)
class Choice:
    part: str  # "decode", "detector", "encoder", "transcode pool"
    runs: str
    reason: str


@dataclass
class HardwarePlan:
    config: PipelineConfig  # the config to run: GPU settings the machine cannot honour replaced
    choices: list[Choice] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)  # one line per GPU setting not honoured, with why

    def choose(self, part: str, runs: str, reason: str, *, fallback: bool = False) -> None:
        self.choices.append(Choice(part, runs, reason))
        if fallback:
            self.fallbacks.append(f"{part}: {reason}")

    def table(self) -> str:
        width = max(len(c.part) for c in self.choices)
        rows = [f"{c.part:<{width}}  {c.runs:<28} {c.reason}" for c in self.choices]
        return "\n".join([*rows, f"fallbacks: {len(self.fallbacks)}"])


def wants_gpu(config: PipelineConfig) -> bool:
    decode, detector, transcode = config.decode, config.detector, config.transcode
    return (
        decode.backend in GPU_DECODE
        or detector.device.startswith("cuda")
        or transcode.encoder == "h264_nvenc"
        or transcode.use_hwaccel
    )


def plan_hardware(config: PipelineConfig, facts: HardwareFacts) -> HardwarePlan:
    """What runs where for `config` on a machine with `facts`, and why (pure: tests pass facts)."""
    plan = HardwarePlan(config)
    _plan_decode(plan, facts)
    _plan_detector(plan, facts)
    _plan_encoder(plan, facts)
    return plan


def _plan_decode(plan: HardwarePlan, facts: HardwareFacts) -> None:
    decode = plan.config.decode
    backend, reason = decode.backend, ""
    if backend == "cpu":
        plan.choose("decode", "ffmpeg (CPU)", "decode.backend = 'cpu'")
        return
    if not facts.gpus:
        backend, reason = "cpu", f"decode.backend = {decode.backend!r} but no NVIDIA GPU: ffmpeg decode on the CPU"
    elif backend == "pynvc" and not facts.pynvc:
        backend = "nvdec" if facts.ffmpeg_cuda else "cpu"
        reason = f"PyNvVideoCodec not installed (pip install 'streamclip[gpu]'): ffmpeg decode ({backend})"
    elif backend == "pynvc" and not facts.torch_cuda:
        backend = "nvdec" if facts.ffmpeg_cuda else "cpu"
        reason = f"pynvc resizes with torch on CUDA, and torch sees no GPU (a CPU build?): ffmpeg decode ({backend})"
    if backend == "nvdec" and not facts.ffmpeg_cuda:
        backend = "cpu"
        reason = reason or "this ffmpeg has no '-hwaccel cuda': ffmpeg decode on the CPU"
    if reason:
        plan.config = msgspec.structs.replace(plan.config, decode=msgspec.structs.replace(decode, backend=backend))
        plan.choose("decode", _decode_label(backend), reason, fallback=True)
    else:
        plan.choose("decode", _decode_label(backend), f"decode.backend = {backend!r} on {facts.gpus[0][0]}")


def _decode_label(backend: str) -> str:
    return {"cpu": "ffmpeg (CPU)", "nvdec": "ffmpeg -hwaccel cuda (NVDEC)", "pynvc": "PyNvVideoCodec (NVDEC)"}[backend]


def _plan_detector(plan: HardwarePlan, facts: HardwareFacts) -> None:
    detector = plan.config.detector
    runs = f"{detector.engine} {detector.precision} on {{}}, batch {detector.batch_windows}"
    if not detector.device.startswith("cuda"):
        plan.choose("detector", runs.format(detector.device), f"detector.device = {detector.device!r}")
        return
    if facts.torch_cuda:
        plan.choose(
            "detector", runs.format(detector.device), f"torch sees {facts.gpus[0][0] if facts.gpus else 'a GPU'}"
        )
        return
    why = "no NVIDIA GPU" if not facts.gpus else "torch sees no GPU (a CPU build of torch?)"
    plan.config = msgspec.structs.replace(plan.config, detector=msgspec.structs.replace(detector, device="cpu"))
    reason = f"detector.device = {detector.device!r} but {why}: detecting on the CPU"
    plan.choose("detector", runs.format("cpu"), reason, fallback=True)


def _plan_encoder(plan: HardwarePlan, facts: HardwareFacts) -> None:
    transcode = plan.config.transcode
    if transcode.use_hwaccel and not (facts.gpus and facts.ffmpeg_cuda):
        why = "no NVIDIA GPU" if not facts.gpus else "ffmpeg has no '-hwaccel cuda'"
        transcode = msgspec.structs.replace(transcode, use_hwaccel=False)
        plan.fallbacks.append(f"clip decode: transcode.use_hwaccel but {why}: clips' sources decoded on the CPU")
    if transcode.encoder != "h264_nvenc":
        plan.config = msgspec.structs.replace(plan.config, transcode=transcode)
        plan.choose("encoder", transcode.encoder, f"transcode.encoder = {transcode.encoder!r}")
        plan.choose("transcode pool", f"{transcode.workers} workers", "transcode.workers")
        return
    problem = _nvenc_problem(facts)
    if problem:
        # NVDEC may still decode the clips' sources (`use_hwaccel`): frames come back to host memory for libx264.
        transcode = msgspec.structs.replace(transcode, encoder=CPU_ENCODER, preset="")
        plan.config = msgspec.structs.replace(plan.config, transcode=transcode)
        plan.choose("encoder", CPU_ENCODER, f"transcode.encoder = 'h264_nvenc' but {problem}: using {CPU_ENCODER}",
                    fallback=True)  # fmt: skip
        plan.choose("transcode pool", f"{transcode.workers} workers", "transcode.workers (libx264, CPU)")
        return
    support = [nvenc.nvenc_support(name, driver) for name, driver in facts.gpus]
    workers, why = nvenc.nvenc_pool_size(transcode.workers, support)
    transcode = msgspec.structs.replace(transcode, workers=workers)
    plan.config = msgspec.structs.replace(plan.config, transcode=transcode)
    plan.choose("encoder", "h264_nvenc", f"NVENC on {facts.gpus[0][0]}")
    plan.choose("transcode pool", f"{workers} NVENC sessions", why)


def _nvenc_problem(facts: HardwareFacts) -> str:
    """Why h264_nvenc cannot encode here ("" when it can)."""
    if not facts.gpus:
        return "no NVIDIA GPU"
    if not facts.ffmpeg_nvenc:
        return "this ffmpeg has no h264_nvenc encoder"
    support = nvenc.nvenc_support(*facts.gpus[0])
    if support.encodes is False:
        return support.reason
    if facts.nvenc_works is False:
        return "a test encode with h264_nvenc failed (driver or ffmpeg build without NVENC support)"
    return ""


# A GPU with every part the GPU path uses (`has_gpu=True`: tests of what a GPU machine keeps).
CAPABLE_GPU = HardwareFacts(
    gpus=[("NVIDIA L4", "")], torch_cuda=True, pynvc=True, ffmpeg_cuda=True, ffmpeg_nvenc=True, nvenc_works=True
)


def gather_facts(config: PipelineConfig, *, has_gpu: bool | None = None) -> HardwareFacts:
    """What the machine offers, asking only what `config` needs. `has_gpu` answers without looking
    (False: no GPU; True: `CAPABLE_GPU`); None asks nvidia-smi, torch and ffmpeg."""
    if not wants_gpu(config) or has_gpu is False:
        return HardwareFacts()
    if has_gpu:
        return CAPABLE_GPU
    code, out = run_quietly(nvenc.GPU_QUERY_ARGV, timeout_s=20)
    gpus = nvenc.parse_gpu_query(out) if code == 0 else []
    torch_cuda = config.detector.device.startswith("cuda") or config.decode.backend == "pynvc"
    facts = HardwareFacts(
        gpus=gpus,
        torch_cuda=_torch_sees_gpu() if gpus and torch_cuda else False,
        pynvc=importlib.util.find_spec("PyNvVideoCodec") is not None,
        ffmpeg_cuda=bool(gpus) and "cuda" in available_hwaccels(),
        ffmpeg_nvenc=bool(gpus) and "h264_nvenc" in available_encoders(),
    )
    if config.transcode.encoder == "h264_nvenc" and facts.ffmpeg_nvenc:
        code, _ = run_quietly(nvenc.probe_encode_argv(), timeout_s=30)
        facts = dataclasses.replace(facts, nvenc_works=code == 0)
    return facts


def _torch_sees_gpu() -> bool:
    from streamclip.detector.cuda import torch_sees_gpu

    return torch_sees_gpu()


def resolve_hardware(config: PipelineConfig, *, has_gpu: bool | None = None) -> PipelineConfig:
    """Replace GPU settings the machine cannot honour by their CPU equivalents, with a warning each."""
    if not wants_gpu(config):
        return config  # nothing to check: spares the seconds `import torch` takes (no model in fixed stride)
    plan = plan_hardware(config, gather_facts(config, has_gpu=has_gpu))
    for line in plan.fallbacks:
        log.warning("%s", line)
    return plan.config


def check_encoder(name: str) -> None:
    """Fail early, naming the binary, when this ffmpeg build lacks the encoder."""
    encoders = available_encoders()
    if name not in encoders:
        usable = ", ".join(e for e in ("libx264", "libopenh264", "h264_nvenc", "libvpx-vp9") if e in encoders)
        raise ConfigError(
            f"transcode.encoder = {name!r} is not available in {ffmpeg_binary()} (this build has: {usable})"
        )
