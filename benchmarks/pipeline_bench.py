"""Streaming pipeline vs whole-video processing (Curator's execution model) vs PySceneDetect.

    .venv/bin/python benchmarks/pipeline_bench.py [--quick] [--skip-scenedetect]
    .venv/bin/python benchmarks/pipeline_bench.py --versus-scenedetect [--rounds 3] [--profile fast-cpu]

Generates its inputs under benchmarks/.cache/ (a 720p 37 s video with known cuts, a 360p
10-minute one and its first minute; `--quick` shrinks them to 8 s / 30 s / 10 s for a smoke run),
runs every measurement in its own subprocess (so peak memory and CPU time are per mode), and
prints the ratios of one run. Results go to benchmarks/.cache/results.json.

Measured:
- each stage alone (decode to 48x27, detector, transcode of the same spans, frame extraction)
  and the whole pipeline: CPU-seconds of the pipeline / sum of the stages' CPU-seconds;
- time to first clip / total wall, streaming and whole-video mode, and how much earlier;
- peak resident memory on the 10-minute video / on the 1-minute video, both modes;
- end-to-end wall / PySceneDetect `detect-adaptive split-video`, same file and encoder.

`--versus-scenedetect`: the 720p video split by the profile (default `fast-cpu`) with frame
extraction off, against PySceneDetect `detect-adaptive split-video` with its own defaults (libx264
`veryfast`, as fast-cpu), in alternating order for `--rounds` rounds: wall (process start to exit),
CPU-seconds (with ffmpeg children) and peak RSS of each, and the ratios of each round's pair.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import streamclip
from streamclip.actors.frame_extractor import FrameExtractor
from streamclip.config import PipelineConfig, load_config
from streamclip.contract.rules import scene_spans
from streamclip.contract.types import EncodedClipInfo
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import decode_argv, transcode_argv
from streamclip.runtime.channel import Channel
from streamclip.storage.workspace import Workspace

CACHE = Path(__file__).parent / ".cache"
SCENES = ["testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "cellauto", "life", "testsrc", "yuvtestsrc"]
# The profile every mode runs with: `default` (Curator's split defaults, libx264, frames at 2 fps)
# unless --profile says otherwise; children get it through the environment.
PROFILE = os.environ.get("STREAMCLIP_BENCH_PROFILE", "default")
OVERRIDES: list[str] = json.loads(os.environ.get("STREAMCLIP_BENCH_SET", "[]"))


def bench_config() -> PipelineConfig:
    return load_config(PROFILE, OVERRIDES)


# -- inputs ---------------------------------------------------------------------------------------


def make_video(path: Path, *, seconds: float, size: str, fps: int = 25, seed: int = 0) -> Path:
    """Scenes of 2-12 s from different lavfi sources, hard cuts between them, AAC audio."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    inputs: list[str] = []
    total = 0.0
    index = 0
    while total < seconds:
        length = float(min(rng.uniform(2.0, 12.0), seconds - total))
        source = SCENES[index % len(SCENES)]
        inputs += ["-f", "lavfi", "-t", f"{length:.3f}", "-i", f"{source}=s={size}:r={fps}"]
        total += length
        index += 1
    chains = "".join(f"[{i}:v]setsar=1,format=yuv420p[v{i}];" for i in range(index))
    joined = "".join(f"[v{i}]" for i in range(index))
    graph = f"{chains}{joined}concat=n={index}:v=1:a=0[v]"
    audio = ["-f", "lavfi", "-t", f"{seconds}", "-i", "sine=frequency=300:sample_rate=44100"]
    argv = [children.ffmpeg_binary(), "-v", "error", "-y", *inputs, *audio, "-filter_complex", graph,
            "-map", "[v]", "-map", f"{index}:a", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac",
            "-shortest", str(path)]  # fmt: skip
    subprocess.run(argv, check=True)
    return path


def cut_video(src: Path, path: Path, seconds: float) -> Path:
    if not path.exists():
        argv = [
            children.ffmpeg_binary(),
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-t",
            str(seconds),
            "-c",
            "copy",
            str(path),
        ]
        subprocess.run(argv, check=True)
    return path


# -- one mode per subprocess ----------------------------------------------------------------------


def cpu_seconds(argv: list[str]) -> float:
    """CPU-seconds (user + system) of a command and all it reaped."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return usage.ru_utime + usage.ru_stime


def split_cpu_seconds(video: Path, out: Path, extra: list[str]) -> float:
    """CPU-seconds of `streamclip split video -o out <extra>` and all it reaped."""
    argv = [sys.executable, "-m", "streamclip", "split", str(video), "-o", str(out), "--no-progress", *extra]
    return cpu_seconds(argv)


def usage() -> dict[str, float]:
    """CPU-seconds of this process and its reaped children (ffmpeg), and this process's peak RSS.

    ffmpeg children's own peaks are not reported: a forked child's maxrss starts at its parent's
    size, so RUSAGE_CHILDREN's figure says nothing about ffmpeg itself.
    """
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, "peak_rss_mb": me.ru_maxrss / 1024}


async def run_streaming(video: Path, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    first = None
    clips = 0
    async with streamclip.open_pipeline(bench_config(), out) as pipe:
        await pipe.submit(video)
        pipe.close_input()
        async for event in pipe:
            if isinstance(event, streamclip.ClipReady):
                clips += 1
                first = first if first is not None else time.monotonic() - started
            elif isinstance(event, streamclip.VideoFailed):
                raise RuntimeError(event.reason)
    return {"first_clip_s": first, "total_s": time.monotonic() - started, "clips": clips}


async def run_whole_video(video: Path, out: Path) -> dict[str, Any]:
    """Curator's execution model, honestly: every stage over the whole video before the next.

    The file's bytes are read into memory, all 48x27 frames decoded into one array, the detector
    run on the whole array, every span transcoded (2 at a time, clips kept in memory), then frames
    extracted from every clip (kept in memory); only then is anything written.
    """
    config = bench_config()
    started = time.monotonic()
    data = video.read_bytes()  # Curator keeps the source bytes in memory
    meta = await streamclip.probe(video)
    frames = np.frombuffer((await children.run(decode_argv(meta), timeout_s=3600)).stdout, np.uint8)
    probabilities = await asyncio.to_thread(_detect, frames, config)
    spans = _spans(probabilities, meta.fps, config)
    work = Path(tempfile.mkdtemp(dir=out))
    encoded = await _transcode_all(meta, spans, work, config.transcode.workers)
    buffers = [path.read_bytes() for path in encoded]  # Curator holds every encoded clip in memory
    sampled = [await _frames(path) for path in encoded]  # ... and every clip's sampled frames
    for index, buffer in enumerate(buffers):
        (out / f"{index}.mp4").write_bytes(buffer)
    elapsed = time.monotonic() - started
    shutil.rmtree(work)
    del data, sampled
    # no clip is available before all of them are: the first is ready when the last one is
    return {"first_clip_s": elapsed, "total_s": elapsed, "clips": len(encoded)}


def _detect(frames: np.ndarray, config: PipelineConfig) -> np.ndarray:
    """The whole array through the detector, with the profile's precision and batch size."""
    detector = config.detector
    return streamclip.shot_probabilities(
        frames.reshape(-1, 27, 48, 3),
        batch_windows=detector.batch_windows,
        precision=detector.precision,
        engine=detector.engine,
    )


def _spans(probabilities: np.ndarray, fps: float, config: PipelineConfig) -> list[tuple[int, int]]:
    rules = config.spans
    return scene_spans(
        probabilities > config.detector.threshold, fps,
        min_length_s=rules.min_length_s, max_length_s=rules.max_length_s, max_length_mode=rules.max_length_mode,
        crop_s=rules.crop_s, entire_scene_as_clip=rules.entire_scene_as_clip, limit_clips=rules.limit_clips,
        scene_edges=rules.scene_edges,
    )  # fmt: skip


async def _transcode_all(meta: Any, spans: list[tuple[int, int]], work: Path, workers: int) -> list[Path]:
    slots = asyncio.Semaphore(workers)

    async def one(index: int, start: int, end: int) -> Path:
        path = work / f"{index}.mp4"
        async with slots:
            await children.run(transcode_argv(meta, start / meta.fps, end / meta.fps, str(path)), timeout_s=600)
        return path

    return list(await asyncio.gather(*(one(i, s, e) for i, (s, e) in enumerate(spans))))


async def _frames(clip: Path) -> dict[str, Any]:
    """The pipeline's own frame sampling (default profile: `sequence` at 2 fps) on one clip."""
    config = bench_config()
    meta = await streamclip.probe(clip)
    info = EncodedClipInfo.from_metadata(meta)
    workspace = Workspace(clip.parent)
    try:
        extractor = FrameExtractor(Channel(1), Channel(1), config.frames, config.limits, workspace)
        return await extractor.extract(str(clip), info)
    finally:
        workspace.cleanup()


async def run_stages(video: Path, out: Path) -> dict[str, Any]:
    """Each stage alone on the same video and spans; CPU-seconds of each (process + children)."""
    config = bench_config()
    meta = await streamclip.probe(video)
    stages: dict[str, float] = {}

    before = usage()["cpu_s"]
    frames = np.frombuffer((await children.run(decode_argv(meta), timeout_s=3600)).stdout, np.uint8)
    stages["decode"] = usage()["cpu_s"] - before

    before = usage()["cpu_s"]
    probabilities = _detect(frames, config)
    stages["detector"] = usage()["cpu_s"] - before
    spans = _spans(probabilities, meta.fps, config)

    before = usage()["cpu_s"]
    encoded = await _transcode_all(meta, spans, out, config.transcode.workers)
    stages["transcode"] = usage()["cpu_s"] - before

    before = usage()["cpu_s"]
    for path in encoded:
        await _frames(path)
    stages["frames"] = usage()["cpu_s"] - before
    return {"stages_cpu_s": stages, "spans": len(spans)}


MODES = {"streaming": run_streaming, "whole": run_whole_video, "stages": run_stages}


def child_main(mode: str, video: str) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        result = asyncio.run(MODES[mode](Path(video), Path(out)))
    result.update(usage())
    print(json.dumps(result))


def measure(mode: str, video: Path) -> dict[str, Any]:
    started = time.monotonic()
    run = subprocess.run([sys.executable, __file__, "--child", mode, str(video)], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{mode} on {video.name} failed:\n{run.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - started
    print(f"  {mode:10} {video.name:14} {json.dumps(result)}", flush=True)
    return result


def measure_scenedetect(video: Path) -> dict[str, Any] | None:
    exe = Path(sys.executable).parent / "scenedetect"
    if not exe.exists():
        print("  scenedetect not installed (pip install scenedetect opencv-python-headless): skipped")
        return None
    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        started = time.monotonic()
        args = "-map 0:v:0 -map 0:a? -c:v libx264 -threads 1 -c:a copy"  # our transcode's encoder settings
        subprocess.run([str(exe), "-q", "-i", str(video), "-o", out, "detect-adaptive", "split-video", "-a", args],
                       check=True, capture_output=True)  # fmt: skip
        wall = time.monotonic() - started
        clips = len(list(Path(out).glob("*.mp4")))
    result = {"wall_s": wall, "clips": clips}
    print(f"  scenedetect {video.name:14} {json.dumps(result)}", flush=True)
    return result


_RUSAGE_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.monotonic()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
wall = time.monotonic() - started
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "cpu_s": r.ru_utime + r.ru_stime, "peak_rss_mb": r.ru_maxrss / 1024}))
"""


def measure_scenedetect_defaults(video: Path) -> dict[str, Any]:
    """PySceneDetect as people run it: `detect-adaptive split-video`, its default encoder arguments.

    Run under a fresh wrapper process, so that the figures are PySceneDetect's alone: CPU-seconds
    with its ffmpeg children, peak RSS the largest of its process and theirs (RUSAGE_CHILDREN).
    """
    exe = Path(sys.executable).parent / "scenedetect"
    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        argv = [str(exe), "-q", "-i", str(video), "-o", out, "detect-adaptive", "split-video"]
        run = subprocess.run([sys.executable, "-c", _RUSAGE_WRAPPER, *argv], check=True, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(run.stdout)
        result["clips"] = len(list(Path(out).glob("*.mp4")))
    print(f"  scenedetect {video.name:14} {json.dumps(result)}", flush=True)
    return result


def versus_scenedetect(video: Path, rounds: int) -> None:
    """Paired rounds, alternating which runs first; ratios per round and their median."""
    from streamclip.detector.models import cached_model

    config = bench_config()
    if config.detector.engine == "openvino":
        cached_model(config.detector.precision, config.detector.model_cache)  # a warm cache, as in production
    ratios: dict[str, list[float]] = {"wall": [], "cpu": [], "rss": []}
    for round_ in range(rounds):
        if round_ % 2 == 0:
            ours, theirs = measure("streaming", video), measure_scenedetect_defaults(video)
        else:
            theirs, ours = measure_scenedetect_defaults(video), measure("streaming", video)
        ratios["wall"].append(ours["wall_s"] / theirs["wall_s"])
        ratios["cpu"].append(ours["cpu_s"] / theirs["cpu_s"])
        ratios["rss"].append(ours["peak_rss_mb"] / theirs["peak_rss_mb"])
        print(f"  round {round_ + 1}: streamclip {ours['wall_s']:.1f} s wall, {ours['cpu_s']:.1f} CPU-s, "
              f"{ours['peak_rss_mb']:.0f} MiB, {ours['clips']} clips | PySceneDetect {theirs['wall_s']:.1f} s, "
              f"{theirs['cpu_s']:.1f} CPU-s, {theirs['peak_rss_mb']:.0f} MiB, {theirs['clips']} clips")  # fmt: skip
    print(f"\nstreamclip {PROFILE} {OVERRIDES} / PySceneDetect detect-adaptive split-video, {video.name}, "
          f"median of {rounds} paired rounds:")  # fmt: skip
    for key, values in ratios.items():
        print(f"  {key:5} {statistics.median(values):.2f}   (rounds: {', '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    global PROFILE, OVERRIDES
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke run of every measurement")
    parser.add_argument("--skip-scenedetect", action="store_true")
    parser.add_argument("--profile", default="default", help="the profile the streaming/whole modes use")
    parser.add_argument("--compare-only", action="store_true",
                        help="only the 10-minute streaming run and PySceneDetect on the same file")  # fmt: skip
    parser.add_argument("--threads", action="store_true",
                        help="only the thread-settings comparison (streaming, 1-minute video)")  # fmt: skip
    parser.add_argument("--detector", action="store_true",
                        help="only the detector-settings comparison (streaming, 1-minute video)")  # fmt: skip
    parser.add_argument("--versus-scenedetect", action="store_true",
                        help="only the profile (frames off) vs PySceneDetect split-video, 720p, paired")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --threads / --detector (default 2)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    if args.child:
        child_main(*args.child)
        return
    long_s, short_s, hd_s = (30.0, 10.0, 8.0) if args.quick else (600.0, 60.0, 37.0)
    tag = "quick" if args.quick else "full"
    long_video = make_video(CACHE / f"360p_{tag}_long.mp4", seconds=long_s, size="640x360")
    short_video = cut_video(long_video, CACHE / f"360p_{tag}_short.mp4", short_s)
    hd_video = make_video(CACHE / f"720p_{tag}.mp4", seconds=hd_s, size="1280x720", seed=1)

    if args.versus_scenedetect:
        args.profile = "fast-cpu" if args.profile == "default" else args.profile
        os.environ["STREAMCLIP_BENCH_SET"] = json.dumps(["frames.enabled=false", *OVERRIDES])
    os.environ["STREAMCLIP_BENCH_PROFILE"] = args.profile
    PROFILE, OVERRIDES = args.profile, json.loads(os.environ.get("STREAMCLIP_BENCH_SET", "[]"))
    print(f"measuring with profile {args.profile!r} {OVERRIDES} (each in its own process):", flush=True)
    print(f"CPU flags: {cpu_flags_line()}", flush=True)
    if args.versus_scenedetect:
        versus_scenedetect(hd_video, args.rounds)
        return
    if args.threads or args.detector:
        compare_settings(short_video, args.rounds, THREAD_SETTINGS if args.threads else DETECTOR_SETTINGS)
        return
    if args.compare_only:
        streaming, reference = measure("streaming", long_video), measure_scenedetect(long_video)
        if reference:
            print(f"\n  end-to-end wall / PySceneDetect: {streaming['wall_s'] / reference['wall_s']:.2f}")
        return
    results: dict[str, Any] = {"stages": measure("stages", hd_video)}
    results["streaming_hd"] = measure("streaming", hd_video)
    for name, video in (("long", long_video), ("short", short_video)):
        results[f"streaming_{name}"] = measure("streaming", video)
        results[f"whole_{name}"] = measure("whole", video)
    if not args.skip_scenedetect:
        results["scenedetect_long"] = measure_scenedetect(long_video)
    (CACHE / f"results_{tag}.json").write_text(json.dumps(results, indent=2))
    report(results, long_s, short_s)


THREAD_SETTINGS = {
    "detector on every core, 2 encoders": [],
    "detector 1 thread, 2 encoders": ["detector.torch_threads=1"],
    "detector 1 thread, 1 encoder": ["detector.torch_threads=1", "transcode.workers=1"],
    "detector on every core, 1 encoder": ["transcode.workers=1"],
}
DETECTOR_SETTINGS = {
    "fp32, 1 window per forward (default)": [],
    "fast, 1 window per forward": ['detector.precision="fast"'],
    "fast, 4 windows per forward": ['detector.precision="fast"', "detector.batch_windows=4"],
}


def compare_settings(video: Path, rounds: int, settings: dict[str, list[str]]) -> None:
    """Streaming wall and CPU of each setting (overrides of the profile), interleaved, best of `rounds`."""
    walls: dict[str, list[float]] = {name: [] for name in settings}
    cpus: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(rounds):
        for name, overrides in settings.items():
            os.environ["STREAMCLIP_BENCH_SET"] = json.dumps(overrides)
            result = measure("streaming", video)
            walls[name].append(result["total_s"])
            cpus[name].append(result["cpu_s"])
    base = min(walls[next(iter(settings))])
    print(f"\nstreaming on {video.name}, best of {rounds} (wall / the first setting's):")
    for name in settings:
        best = min(walls[name])
        print(f"  {name:40} wall {best:6.1f} s  ratio {best / base:.2f}   CPU {min(cpus[name]):6.1f} s")


def cpu_flags_line() -> str:
    from streamclip.detector.network import cpu_flags

    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]
    return f"{os.cpu_count()} CPUs, " + (" ".join(f for f in wanted if f in cpu_flags()) or "none of avx2/avx512/amx")


def report(r: dict[str, Any], long_s: float, short_s: float) -> None:
    stages_sum = sum(r["stages"]["stages_cpu_s"].values())
    print("\nratios (one run):")
    print(f"  pipeline CPU-s / sum of stages alone (720p):   {r['streaming_hd']['cpu_s'] / stages_sum:.3f}"
          f"   (stages: {json.dumps({k: round(v, 1) for k, v in r['stages']['stages_cpu_s'].items()})})")  # fmt: skip
    for mode in ("streaming", "whole"):
        long = r[f"{mode}_long"]
        share = long["first_clip_s"] / long["total_s"]
        print(f"  {mode:9} first clip / total wall ({long_s / 60:.0f} min):  {share:.4f}"
              f"   ({long['first_clip_s']:.1f} s of {long['total_s']:.1f} s)")  # fmt: skip
    earlier = r["whole_long"]["first_clip_s"] / r["streaming_long"]["first_clip_s"]
    print(f"  first clip: streaming is {earlier:.1f}x earlier than whole-video mode")
    for mode in ("streaming", "whole"):
        big, small = r[f"{mode}_long"]["peak_rss_mb"], r[f"{mode}_short"]["peak_rss_mb"]
        print(f"  {mode:9} peak RSS {long_s / 60:.0f} min / {short_s / 60:.0f} min:  {big / small:.2f}"
              f"   ({big:.0f} MB vs {small:.0f} MB)")  # fmt: skip
    if r.get("scenedetect_long"):
        ratio = r["streaming_long"]["wall_s"] / r["scenedetect_long"]["wall_s"]
        print(f"  end-to-end wall / PySceneDetect detect-adaptive split-video:  {ratio:.2f}"
              f"   ({r['streaming_long']['wall_s']:.1f} s vs {r['scenedetect_long']['wall_s']:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
