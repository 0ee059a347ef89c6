"""What runs where: the GPU plan for each kind of machine, NVENC session pools, `probe --hardware`.

The plan is pure (facts in, plan out), so every machine is tested here on the CPU; what only a GPU
can show (that NVENC, NVDEC and PyNvVideoCodec really run) is scripts/gpu_check.sh's.
"""

from __future__ import annotations

import logging
import shutil

import pytest

from streamclip.cli import main
from streamclip.config import PipelineConfig, load_config
from streamclip.detector.network import cuda_available
from streamclip.ffmpeg import nvenc
from streamclip.ffmpeg.children import run_quietly
from streamclip.ffmpeg.hardware import HardwareFacts, gather_facts, plan_hardware, resolve_hardware

H100 = ("NVIDIA H100 80GB HBM3", "550.54.15")
RTX_4090 = ("NVIDIA GeForce RTX 4090", "535.104.05")
L4 = ("NVIDIA L4", "550.54.15")


def gpu(*gpus: tuple[str, str], **changes: bool | None) -> HardwareFacts:
    every = {"torch_cuda": True, "pynvc": True, "ffmpeg_cuda": True, "ffmpeg_nvenc": True, "nvenc_works": True}
    return HardwareFacts(gpus=list(gpus), **{**every, **changes})  # type: ignore[arg-type]


def nvidia(*overrides: str) -> PipelineConfig:
    return load_config("nvidia", list(overrides))


def test_without_a_gpu_every_part_falls_back_to_the_cpu_saying_why() -> None:
    plan = plan_hardware(nvidia(), HardwareFacts())
    cfg = plan.config
    assert (cfg.decode.backend, cfg.detector.device, cfg.transcode.encoder) == ("cpu", "cpu", "libx264")
    assert (cfg.transcode.use_hwaccel, cfg.transcode.preset) == (False, "")
    assert len(plan.fallbacks) == 4
    assert all("no NVIDIA GPU" in line for line in plan.fallbacks)


def test_a_capable_gpu_keeps_every_gpu_setting() -> None:
    config = nvidia("transcode.workers=4")
    plan = plan_hardware(config, gpu(L4))
    assert plan.fallbacks == []
    assert plan.config == config
    assert {c.part: c.runs for c in plan.choices}["transcode pool"] == "4 NVENC sessions"


def test_a_gpu_without_nvenc_encodes_with_libx264_once_and_still_decodes_on_the_gpu() -> None:
    plan = plan_hardware(nvidia(), gpu(H100))
    cfg = plan.config
    assert cfg.transcode.encoder == "libx264"
    assert cfg.transcode.use_hwaccel is True  # NVDEC still decodes the clips' sources
    assert (cfg.decode.backend, cfg.detector.device) == ("pynvc", "cuda")
    assert len(plan.fallbacks) == 1
    assert "H100" in plan.fallbacks[0]
    assert "no NVENC" in plan.fallbacks[0]


def test_a_consumer_gpu_caps_the_transcode_pool_at_its_nvenc_sessions() -> None:
    plan = plan_hardware(nvidia("transcode.workers=8"), gpu(RTX_4090))
    assert plan.config.transcode.workers == 5  # driver 535: five sessions
    assert plan.config.transcode.encoder == "h264_nvenc"
    assert plan.fallbacks == []
    small = plan_hardware(nvidia("transcode.workers=2"), gpu(RTX_4090))
    assert small.config.transcode.workers == 2


def test_without_pynvideocodec_decode_falls_back_to_ffmpeg_nvdec() -> None:
    plan = plan_hardware(nvidia(), gpu(L4, pynvc=False))
    assert plan.config.decode.backend == "nvdec"
    assert plan.fallbacks == [
        "decode: PyNvVideoCodec not installed (pip install 'streamclip[gpu]'): ffmpeg decode (nvdec)"
    ]


def test_a_cpu_build_of_torch_on_a_gpu_machine_detects_on_the_cpu_and_decodes_with_ffmpeg() -> None:
    plan = plan_hardware(nvidia(), gpu(L4, torch_cuda=False))
    assert (plan.config.decode.backend, plan.config.detector.device) == ("nvdec", "cpu")
    assert plan.config.transcode.encoder == "h264_nvenc"
    assert len(plan.fallbacks) == 2
    assert all("torch sees no GPU" in line for line in plan.fallbacks)


def test_ffmpeg_without_cuda_or_nvenc_falls_back_per_part() -> None:
    plan = plan_hardware(nvidia("decode.backend='nvdec'"), gpu(L4, ffmpeg_cuda=False, ffmpeg_nvenc=False))
    cfg = plan.config
    assert (cfg.decode.backend, cfg.transcode.use_hwaccel, cfg.transcode.encoder) == ("cpu", False, "libx264")
    assert cfg.detector.device == "cuda"
    assert len(plan.fallbacks) == 3


def test_a_failed_test_encode_on_an_unknown_gpu_means_libx264() -> None:
    unknown = ("NVIDIA Future GPU 9000", "600.1")
    assert nvenc.nvenc_support(*unknown).encodes is None
    assert plan_hardware(nvidia(), gpu(unknown, nvenc_works=False)).config.transcode.encoder == "libx264"
    assert plan_hardware(nvidia(), gpu(unknown, nvenc_works=True)).config.transcode.encoder == "h264_nvenc"


@pytest.mark.parametrize(
    ("name", "driver", "encodes", "sessions"),
    [
        ("NVIDIA A100-SXM4-80GB", "535.1", False, 0),
        ("NVIDIA H100 PCIe", "550.1", False, 0),
        ("NVIDIA H200", "560.1", False, 0),
        ("NVIDIA GH200 480GB", "560.1", False, 0),
        ("NVIDIA GeForce RTX 3060", "525.60", True, 3),
        ("NVIDIA GeForce RTX 4090", "535.104", True, 5),
        ("NVIDIA GeForce RTX 5090", "570.86", True, 8),
        ("NVIDIA RTX A3000 Laptop GPU", "550.1", True, None),  # not the A30: a word, not a prefix
        ("Tesla T4", "535.1", True, None),
        ("NVIDIA L40S", "550.1", True, None),
        ("NVIDIA A10G", "535.1", True, None),
    ],
)
def test_the_nvenc_table(name: str, driver: str, encodes: bool, sessions: int | None) -> None:
    support = nvenc.nvenc_support(name, driver)
    assert (support.encodes, support.max_sessions) == (encodes, sessions)


def test_nvidia_smi_output_is_read_per_gpu() -> None:
    out = "NVIDIA H100 80GB HBM3, 550.54.15\nNVIDIA GeForce RTX 4090, 535.104.05\n\n"
    assert nvenc.parse_gpu_query(out) == [H100, RTX_4090]


@pytest.mark.skipif(cuda_available() or shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_without_a_gpu_the_facts_say_so_and_the_nvenc_test_encode_fails() -> None:
    facts = gather_facts(nvidia())
    assert (facts.gpus, facts.torch_cuda, facts.ffmpeg_cuda, facts.ffmpeg_nvenc) == ([], False, False, False)
    code, out = run_quietly(nvenc.probe_encode_argv(), timeout_s=30)
    assert code != 0, out


def test_each_fallback_is_logged_once_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="streamclip"):
        resolve_hardware(nvidia(), has_gpu=False)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == plan_hardware(nvidia(), HardwareFacts()).fallbacks


@pytest.mark.skipif(cuda_available() or shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_probe_hardware_prints_what_runs_where_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--hardware"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "NVIDIA GPUs: none" in out
    assert "libx264" in rows["encoder"]
    assert "no NVIDIA GPU" in rows["encoder"]
    assert "ffmpeg (CPU)" in rows["decode"]
    assert "fallbacks: 4" in out
    assert main(["probe", "--hardware", "--profile", "default"]) == 0
    assert "fallbacks: 0" in capsys.readouterr().out
