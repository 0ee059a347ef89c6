"""The `pynvc` decode path on the CPU: the DLPack hand-off, the GPU resize (run on CPU tensors), the
device window builder, which sources go to ffmpeg instead, and the fallback's exact clips.

What needs NVDEC (PyNvVideoCodec's frames themselves) is in the `gpu`-marked test at the end and
in scripts/gpu_check.sh.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import media
import numpy as np
import pytest
import torch

import streamclip
from streamclip.actors import pynvc_decode
from streamclip.actors.messages import VideoJob
from streamclip.config import load_config
from streamclip.contract.types import ClipReady, VideoDone
from streamclip.detector.cuda import DeviceWindowBuilder, frames_from_dlpack, resize_for_detector, stack_windows
from streamclip.detector.engines import shot_probabilities
from streamclip.detector.network import WindowBuilder, cuda_available
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import decode_argv
from streamclip.ffmpeg.probe import probe_sync

SCENES = [("testsrc2", 2.0), ("mandelbrot", 2.0), ("smptebars", 2.0)]  # 150 frames: three windows


@pytest.fixture(scope="module")
def larger_video(media_dir: Path) -> media.CutVideo:
    """320x180: a downscale by 6.7 to 48x27, as real videos need (and more)."""
    return media.make_cut_video(media_dir / "larger.mp4", scenes=SCENES, size="320x180")


@pytest.fixture(scope="module")
def three_scenes(media_dir: Path) -> media.CutVideo:
    """114 frames at 12.5 fps, a clip per scene (the span rules are in seconds: 25 fps's clips, half the frames)."""
    return media.make_cut_video(media_dir / "three scenes.mp4", scenes=[(name, 3.0) for name, _ in SCENES], fps=12.5)


def ffmpeg_frames(path: Path, *, small: bool) -> np.ndarray:
    """The CPU decoder's 48x27 frames, or the same frames at full size (what NVDEC hands over)."""
    meta = probe_sync(path)
    argv = decode_argv(meta)
    if not small:
        at = argv.index("-s")
        argv = argv[:at] + argv[at + 2 :]
    out = subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout
    height, width = (27, 48) if small else (meta.height, meta.width)
    return np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)


@pytest.mark.parametrize("sizes", [[7, 50, 3, 100, 1, 61], [50, 50], [20], [150]])
def test_device_windows_are_the_reference_windows(sizes: list[int]) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (sum(sizes), 27, 48, 3), dtype=np.uint8)
    host, device = WindowBuilder(), DeviceWindowBuilder()
    expected, got, at = [], [], 0
    for n in sizes:
        expected += host.push(frames[at : at + n])
        got += device.push(torch.from_numpy(frames[at : at + n].copy()))
        at += n
    expected += host.finish()
    got += device.finish()
    assert [first for first, _ in got] == [first for first, _ in expected]
    for (_, mine), (_, reference) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(mine.numpy(), reference)
    assert stack_windows([w for _, w in got]).shape == (len(got), 100, 27, 48, 3)
    # One batch may hold windows of a "pynvc" video (tensors) and of one ffmpeg decoded (numpy).
    mixed = stack_windows([got[0][1], expected[-1][1]])
    assert isinstance(mixed, torch.Tensor)
    np.testing.assert_array_equal(mixed.numpy(), np.stack([expected[0][1], expected[-1][1]]))


def test_the_dlpack_hand_off_takes_interleaved_or_planar_frames_without_a_host_round_trip() -> None:
    rgb = torch.randint(0, 256, (4, 18, 32, 3), dtype=torch.uint8)
    stacked = frames_from_dlpack(list(rgb), planar=False)
    assert torch.equal(stacked, rgb)
    planar = frames_from_dlpack(list(rgb.permute(0, 3, 1, 2).contiguous()), planar=True)
    assert torch.equal(planar, rgb)
    assert torch.equal(frames_from_dlpack([np.asarray(f) for f in rgb], planar=False), rgb)  # any DLPack producer
    assert stacked.data_ptr() != rgb.data_ptr()  # a copy on the device: the decoder reuses its surfaces
    with pytest.raises(ValueError, match="uint8 RGB"):
        frames_from_dlpack(list(rgb.float()), planar=False)
    with pytest.raises(ValueError, match="no frames"):
        frames_from_dlpack([], planar=False)


def test_the_gpu_resize_stays_close_to_ffmpegs_scaler_and_keeps_the_reference_decisions(
    larger_video: media.CutVideo, prepared_models: object
) -> None:
    """Bicubic with antialiasing on full-size RGB against swscale (scales YUV, then converts): a few
    levels on average (the test sources' sharp saturated edges differ most); the decisions hold."""
    reference = ffmpeg_frames(larger_video.path, small=True)
    resized = resize_for_detector(torch.from_numpy(ffmpeg_frames(larger_video.path, small=False).copy())).numpy()
    assert resized.shape == reference.shape
    difference = np.abs(resized.astype(np.int16) - reference.astype(np.int16))
    assert difference.mean() < 8.0
    cuts = [
        np.flatnonzero(shot_probabilities(frames, engine="openvino") > 0.4).tolist() for frames in (reference, resized)
    ]
    assert cuts[0] == cuts[1]
    assert cuts[0]  # the video's cuts are seen


def test_constant_rate_reads_ffprobes_two_rates() -> None:
    assert pynvc_decode.constant_rate("25/1,25/1\n")
    assert pynvc_decode.constant_rate("30000/1001,30000/1001")
    assert not pynvc_decode.constant_rate("60/1,1017/30")
    assert not pynvc_decode.constant_rate("0/0,0/0")
    assert not pynvc_decode.constant_rate("")


async def reasons(path: Path) -> str | None:
    job = VideoJob(1, str(path), path.name, meta=await streamclip.probe(path))
    return pynvc_decode.pynvc_unsuitable(job, await pynvc_decode.read_frame_rates(job, timeout_s=30))


async def test_sources_nvdec_would_index_differently_go_to_ffmpeg(
    cut_video: media.CutVideo, vfr_video: Path, rotated_video: Path, video_10bit: media.CutVideo, media_dir: Path
) -> None:
    assert await reasons(cut_video.path) is None
    assert "variable frame rate" in (await reasons(vfr_video) or "")
    assert "rotated" in (await reasons(rotated_video) or "")
    assert "high bit depth" in (await reasons(video_10bit.path) or "")
    mjpeg = media.make_cut_video(media_dir / "mjpeg.avi", scenes=SCENES[:1], codec="mjpeg", pix_fmt="yuvj420p")
    assert "codec mjpeg" in (await reasons(mjpeg.path) or "")


async def test_without_a_gpu_pynvc_gives_one_warning_and_the_cpu_paths_exact_clips(
    three_scenes: media.CutVideo, tmp_path: Path, caplog: pytest.LogCaptureFixture, prepared_models: object
) -> None:
    if cuda_available():
        pytest.skip("this machine has a GPU: the fallback is not taken")
    settings = ["frames.enabled=false"]
    results = {}
    for backend in ("cpu", "pynvc"):
        caplog.clear()
        cfg = load_config("default", [*settings, f"decode.backend='{backend}'"])
        events = await streamclip.split([three_scenes.path], tmp_path / backend, cfg)
        results[backend] = sorted((e.clip.uuid, e.clip.span.start_frame, e.clip.span.end_frame) for e in events
                                  if isinstance(e, ClipReady))  # fmt: skip
        assert [e.num_clips for e in events if isinstance(e, VideoDone)] == [len(results[backend])]
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warned == ([] if backend == "cpu" else ["decode: decode.backend = 'pynvc' but no NVIDIA GPU: "
                                                        "ffmpeg decode on the CPU"])  # fmt: skip
    assert results["pynvc"] == results["cpu"]
    assert len(results["cpu"]) == 3


@pytest.mark.gpu
async def test_pynvc_frames_are_the_cpu_decoders_frames_on_a_gpu(cut_video: media.CutVideo) -> None:
    """Same count and order as ffmpeg's; pixels within the documented resize difference."""
    if not cuda_available():
        pytest.skip("needs an NVIDIA GPU")
    pytest.importorskip("PyNvVideoCodec")
    job = VideoJob(1, str(cut_video.path), cut_video.path.name, meta=await streamclip.probe(cut_video.path))
    chunks: list[torch.Tensor] = []

    async def keep(_: VideoJob, frames: torch.Tensor) -> None:
        assert frames.is_cuda
        chunks.append(frames.cpu())
        job.frames_decoded += len(frames)

    assert await pynvc_decode.decode_pynvc(job, keep, chunk_frames=25, to_host=False) is None
    mine = torch.cat(chunks).numpy()
    reference = ffmpeg_frames(cut_video.path, small=True)
    assert mine.shape == reference.shape
    # the resize alone: about 5 levels (above); NVDEC's colour matrix may add a few. A swapped channel
    # order or a shifted frame gives far more.
    assert np.abs(mine.astype(np.int16) - reference.astype(np.int16)).mean() < 16.0
    assert children.live_children() == 0
