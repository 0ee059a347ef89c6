"""The review site and the daemon's HTTP server after months of work (issue 20).

    python benchmarks/review_bench.py site               # a 20,000-video output: build, then one changed video
    python benchmarks/review_bench.py clients            # a `watch --report` daemon: RSS before and during 50
                                                         # clients that ask for a 60 MB clip and never read
    python benchmarks/review_bench.py site --quick       # 2,000 videos (a smoke run); clients --quick: 10 clients

`site` writes an output folder of N finished videos (records and decisions as the pipeline writes
them, three clips each, no media: no thumbnail is made) under benchmarks/.cache/, builds its site
once, then, as the daemon's live site does, marks one video changed and times the rebuild
(`build_report(only={rel}, cache=...)`, the call `LiveReport` makes), five times; it prints the
index's size and the pages made. `clients` starts `streamclip watch IN -o OUT --report
--metrics-address 127.0.0.1:PORT` on an output holding one 60 MB clip, reads the daemon's RSS,
opens the clients (each reads the first bytes of the answer, then stops reading), and reads the
RSS again; then checks that /healthz still answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from streamclip.review.site import build_report

try:
    from streamclip.review.site import SiteCache
except ImportError:  # a streamclip before issue 20 (measured for RESULTS.md): its cache was a dict
    SiteCache = dict  # type: ignore[assignment,misc]

CACHE = Path(__file__).parent / ".cache"
SCENES = [(0, 80), (80, 170), (170, 250)]


def cpu_flags_line() -> str:
    flags: set[str] = set()
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]
    return f"{os.cpu_count()} CPUs, " + (" ".join(f for f in wanted if f in flags) or "none of avx2/avx512/amx")


# ---------------------------------------------------------------------------------------------
# site: a 20,000-video output


def make_output(out: Path, videos: int) -> list[str]:
    """N finished videos' records and decisions (three clips each, none written: no media)."""
    rels = [f"batch{i // 1000:02d}/video{i:05d}.mp4" for i in range(videos)]
    if (out / "processed_videos").is_dir() and len(list((out / "processed_videos").rglob("*.json"))) == videos:
        return rels
    shutil.rmtree(out, ignore_errors=True)
    for i, rel in enumerate(rels):
        clips = [
            {"index": k, "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rel}_{k}")), "start_s": 3.0 * k,
             "end_s": 3.0 * k + 2.5, "start_frame": 75 * k, "end_frame": 75 * k + 62}
            for k in range(3)
        ]  # fmt: skip
        record = {"video": f"/in/{rel}", "status": "done", "errors": {}, "timings_s": {"probe": 0.1, "decode": 2.0},
                  "metadata": {"duration_s": 10.0, "fps": 25.0, "num_frames": 250}}  # fmt: skip
        scenes = [{"start_frame": a, "end_frame": b, "start_s": a / 25, "end_s": b / 25} for a, b in SCENES]
        decisions = {"source": f"/in/{rel}", "status": "done", "duration_s": 10.0, "fps": 25.0, "num_frames": 250,
                     "mode": "scenes", "threshold": 0.4, "scenes": scenes, "cuts": [80, 170], "clips": clips,
                     "dropped": [], "processing_s": 2.1}  # fmt: skip
        for folder, data in (("processed_videos", record), ("decisions", decisions)):
            path = out / folder / f"{rel}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
        if i % 5000 == 4999:
            print(f"  {i + 1} videos written", file=sys.stderr)
    return rels


async def site(videos: int) -> None:
    out = CACHE / f"review-{videos}"
    started = time.perf_counter()
    rels = make_output(out, videos)
    print(f"output of {videos} videos ready in {time.perf_counter() - started:.1f} s")
    shutil.rmtree(out / "report", ignore_errors=True)
    cache = SiteCache()  # what LiveReport keeps between builds
    started = time.perf_counter()
    first = await build_report(out, cache=cache, live=True)
    print(f"first build: {time.perf_counter() - started:.1f} s, {len(first.rebuilt)} pages made")
    index = first.root / "index.html"
    extra = sum(p.stat().st_size for p in (first.root / "index").glob("*.js"))
    print(f"index: {index.stat().st_size / 1e3:.1f} kB page + {extra / 1e6:.2f} MB of rows in index/*.js")
    times = []
    for round_ in range(5):
        rel = rels[(round_ * 7919) % len(rels)]
        record = out / "decisions" / f"{rel}.json"
        record.write_bytes(record.read_bytes())  # the same content, a new mtime: the video changed
        started = time.perf_counter()
        result = await build_report(out, only={rel}, cache=cache, live=True)
        times.append(time.perf_counter() - started)
        assert result.rebuilt == [rel], result.rebuilt
    print(f"one changed video at {videos}: rebuild {statistics.median(times) * 1000:.0f} ms median "
          f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) over {len(times)} rebuilds")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# clients: non-reading HTTP clients against a daemon


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(1 << 16):
            data += chunk
    return int(data.split(b" ", 2)[1])


def clients(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="streamclip-clients-") as folder:
        inbox, out = Path(folder) / "in", Path(folder) / "out"
        inbox.mkdir()
        (out / "clips").mkdir(parents=True)
        clip = out / "clips" / f"{uuid.uuid4()}.mp4"
        clip.write_bytes(os.urandom(60 << 20))
        port = _free_port()
        argv = [sys.executable, "-m", "streamclip", "watch", str(inbox), "-o", str(out), "--report", "--no-progress",
                "--metrics-address", f"127.0.0.1:{port}", "--set", 'spans.mode="fixed_stride"']  # fmt: skip
        daemon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        held: list[socket.socket] = []
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if _get(port, "/healthz") == 200 and _get(port, "/") == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise SystemExit("the daemon did not come up")
                time.sleep(0.2)
            process = psutil.Process(daemon.pid)
            before = process.memory_info().rss
            for _ in range(count):
                conn = socket.socket()
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                conn.settimeout(30)
                conn.connect(("127.0.0.1", port))
                conn.sendall(f"GET /clips/{clip.name} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                first = conn.recv(64)
                held.append(conn)
                if not first.startswith(b"HTTP/1.0 200"):
                    print(f"  client {len(held)}: {first[:40]!r}")
            time.sleep(1.0)  # what the daemon does with them meanwhile
            during = process.memory_info().rss
            health = _get(port, "/healthz")
        finally:
            for conn in held:
                conn.close()
            daemon.terminate()
            daemon.wait(timeout=60)
    print(f"daemon RSS: {before / 2**20:.0f} MiB before, {during / 2**20:.0f} MiB with {count} clients that "
          f"never read a 60 MB clip (+{(during - before) / 2**20:.0f} MiB); /healthz meanwhile: {health}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["site", "clients"])
    parser.add_argument("--videos", type=int, default=20_000, help="site: videos in the output (default 20000)")
    parser.add_argument("--clients", type=int, default=50, help="clients: how many (default 50)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 videos, or 10 clients")
    args = parser.parse_args()
    print(cpu_flags_line())
    if args.what == "site":
        asyncio.run(site(2000 if args.quick else args.videos))
    else:
        clients(10 if args.quick else args.clients)


if __name__ == "__main__":
    main()
