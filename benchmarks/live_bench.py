"""Live sources (issue 11): latency from a scene's end to its clip, and a long live stream's lag and spool.

    python benchmarks/live_bench.py latency            # (a) 360p30, scene end on the sender -> ClipReady
    python benchmarks/live_bench.py soak --minutes 3   # (b) 720p30, fast-cpu: lag and spool over time

A real ffmpeg sender (`-re`, so in real time) pushes MPEG-TS to a TCP listener on 127.0.0.1 that
streamclip opened (`tcp://127.0.0.1:PORT?listen=1`). The sources are generated with lavfi (scenes
with hard cuts at known frames). The soak run loops a 720p source with `-stream_loop -1`, so the
stream also has a timestamp jump at every loop.

(a) A frame f leaves the sender at t0 + f/fps (t0: the first byte read, as `-re` paces from its
start); a scene ending at cut c (its clip ends at c - crop) ends on the sender at t0 + c/fps. The
latency is ClipReady's arrival minus that; beside it the clip's encode time (the video's transcode
seconds / clips). (b) Every second: `statistics().decoder.lag_s` and `.spool_bytes`, and this
process's RSS; the spool's peak against the bytes of the longest scene in the source.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

import streamclip
from streamclip.config import PipelineConfig, load_config
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed

SCENES_360 = [("testsrc2", 4.0), ("mandelbrot", 4.0), ("smptebars", 5.0), ("rgbtestsrc", 4.0), ("cellauto", 4.0),
              ("testsrc", 4.0), ("color=c=navy", 4.0), ("life=s=640x360:mold=10:ratio=0.1", 4.0)]  # fmt: skip
SCENES_720 = [("mandelbrot", 9.0), ("testsrc2", 6.0), ("cellauto", 4.0), ("smptehdbars", 8.0),
              ("life=s=1280x720:mold=10:ratio=0.1", 5.0), ("testsrc", 7.0), ("rgbtestsrc", 3.0)]  # fmt: skip


def cpu_flags_line() -> str:
    from streamclip.detector.network import cpu_flags

    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]
    return f"{os.cpu_count()} CPUs, " + (" ".join(f for f in wanted if f in cpu_flags()) or "none of avx2/avx512/amx")


def make_source(path: Path, scenes: list[tuple[str, float]], size: str, fps: int) -> list[int]:
    """An MPEG-TS of lavfi scenes with hard cuts, keyframes every second; returns the cut frames."""
    counts = [round(seconds * fps) for _, seconds in scenes]
    chains = []
    for i, ((spec, _), n) in enumerate(zip(scenes, counts, strict=True)):
        sized = spec if "s=" in spec else f"{spec}{':' if '=' in spec else '='}s={size}"
        chains.append(
            f"{sized}:r={fps},trim=end_frame={n},setpts=PTS-STARTPTS,scale={size},format=yuv420p,setsar=1[v{i}]"
        )
    labels = "".join(f"[v{i}]" for i in range(len(scenes)))
    graph = ";".join([*chains, f"{labels}concat=n={len(scenes)}:v=1:a=0[v]"])
    if not path.exists():
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-v", "error", "-y", "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264",
             "-preset", "veryfast", "-g", str(fps), "-b:v", "2M" if "720" in size else "700k",
             "-f", "mpegts", str(path)],
            check=True,
        )  # fmt: skip
    return [sum(counts[:k]) for k in range(1, len(counts) + 1)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_sender(source: Path, port: int, *, loop_s: float | None = None) -> asyncio.subprocess.Process:
    """ffmpeg -re into our listener, retried until the listener is up (the sender reads a file)."""
    looping = ["-stream_loop", "-1"] if loop_s else []
    limit = ["-t", f"{loop_s:.0f}"] if loop_s else []
    for _ in range(200):
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-v", "error", "-re", *looping, "-i", str(source), *limit, "-c", "copy",
            "-f", "mpegts", f"tcp://127.0.0.1:{port}", stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with asyncio.timeout(0.3):
                await proc.wait()
        except TimeoutError:
            return proc  # connected and sending
        await asyncio.sleep(0.1)
    raise RuntimeError("the listener never came up")


async def latency(work: Path, profile: str) -> None:
    fps, crop_frames = 30, 15  # crop_s 0.5 at 30 fps
    source = work / "scenes360.ts"
    cuts = make_source(source, SCENES_360, "640x360", fps)
    config = load_config(profile)
    port = free_port()
    rows: list[tuple[int, float]] = []
    async with streamclip.open_pipeline(config, work / "out-latency") as pipe:
        await pipe.submit(f"tcp://127.0.0.1:{port}?listen=1")
        pipe.close_input()
        sender = await start_sender(source, port)
        t0 = time.monotonic()  # the sender's first bytes (within the 0.3 s it was given to fail)
        done: VideoDone | None = None
        async for event in pipe:
            if isinstance(event, ClipReady):
                scene_end = event.clip.span.end_frame + crop_frames
                rows.append((scene_end, time.monotonic() - (t0 + scene_end / fps)))
            elif isinstance(event, VideoDone):
                done = event
            elif isinstance(event, VideoFailed):
                raise SystemExit(f"failed: {event.reason}")
        await sender.wait()
    assert done is not None
    encode_s = done.timings_s.get("transcode", 0.0) / max(done.num_clips, 1)
    print(f"\n(a) scene end on the sender -> ClipReady, 640x360 at 30 fps, profile {profile}; {cpu_flags_line()}")
    print(f"    cuts at {cuts[:-1]}; clip encode time (transcode s / clips): {encode_s:.2f} s")
    for end, seconds in sorted(rows):
        print(f"    scene ending at frame {end:4}: {seconds:5.2f} s  (minus encode: {seconds - encode_s:5.2f} s)")
    values = [s for _, s in rows]
    print(f"    median {statistics.median(values):.2f} s, max {max(values):.2f} s; minus encode: "
          f"median {statistics.median(values) - encode_s:.2f} s, max {max(values) - encode_s:.2f} s")  # fmt: skip


async def soak(work: Path, minutes: float) -> None:
    fps = 30
    source = work / "scenes720.ts"
    cuts = make_source(source, SCENES_720, "1280x720", fps)
    longest = longest_scene_bytes(source, [0, *cuts])
    config: PipelineConfig = load_config("fast-cpu")
    port, seconds = free_port(), minutes * 60
    samples: list[tuple[float, float, int, float]] = []  # (t, lag, spool bytes, rss MB)
    clips, me = 0, psutil.Process()
    async with streamclip.open_pipeline(config, work / "out-soak") as pipe:
        await pipe.submit(f"tcp://127.0.0.1:{port}?listen=1")
        pipe.close_input()
        sender = await start_sender(source, port, loop_s=seconds)
        t0 = time.monotonic()

        async def sample() -> None:
            while True:
                stats = pipe.statistics().decoder
                if stats is not None:
                    samples.append((time.monotonic() - t0, stats.lag_s, stats.spool_bytes, me.memory_info().rss / 1e6))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        final: Event | None = None
        async for event in pipe:
            clips += isinstance(event, ClipReady)
            final = event
        sampler.cancel()
        peak = pipe.statistics().decoder
        await sender.wait()
    report_soak(samples, clips, final, peak.spool_peak_bytes if peak else 0, longest, seconds)


def report_soak(
    samples: list[tuple[float, float, int, float]], clips: int, final: Event | None, peak: int, longest: int, s: float
) -> None:
    print(f"\n(b) live 1280x720 at 30 fps, fast-cpu, {s / 60:.1f} min; {cpu_flags_line()}")
    print(f"    {clips} clips; end: {type(final).__name__}")
    for t, lag, spool, rss in samples[:: max(len(samples) // 20, 1)]:
        print(f"    t={t:6.0f} s  lag {lag:5.2f} s  spool {spool / 1e6:6.2f} MB  RSS {rss:6.0f} MB")
    thirds = [samples[i * len(samples) // 3 : (i + 1) * len(samples) // 3] for i in range(3)]
    for name, part in zip(("first", "middle", "last"), thirds, strict=True):
        lags = [lag for _, lag, _, _ in part] or [0.0]
        rss = [r for _, _, _, r in part] or [0.0]
        print(f"    {name:6} third: lag median {statistics.median(lags):5.2f} s, max {max(lags):5.2f} s; "
              f"RSS median {statistics.median(rss):5.0f} MB")  # fmt: skip
    print(f"    spool peak {peak / 1e6:.2f} MB; longest scene {longest / 1e6:.2f} MB; ratio {peak / longest:.2f}")


def longest_scene_bytes(source: Path, bounds: list[int]) -> int:
    """The bytes of the video packets of the source's longest scene (by bytes)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size", "-of", "csv=p=0",
         str(source)], capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    sizes = [int(word.strip(",")) for word in out]
    return max(sum(sizes[a:b]) for a, b in itertools.pairwise(bounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["latency", "soak"])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak: how long the stream runs")
    parser.add_argument("--profile", default="default", help="latency: the profile (soak always runs fast-cpu)")
    parser.add_argument("--work", type=Path, default=None, help="folder for sources and outputs (default: a temp one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="live-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", file=sys.stderr)
    asyncio.run(latency(work, args.profile) if args.what == "latency" else soak(work, args.minutes))


if __name__ == "__main__":
    main()
