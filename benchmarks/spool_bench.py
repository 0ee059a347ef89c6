"""A live spool over a month (issue 20): the cost of one poll of its segment list at day 1 vs day 30.

    python benchmarks/spool_bench.py            # 1 s segments: day 1 vs day 30 (2.6 million lines)
    python benchmarks/spool_bench.py --quick    # day 1 vs day 3, fewer polls: a smoke run

ffmpeg's segment muxer appends one line to the spool's CSV list per finished segment and never
removes one, so a stream read for 30 days in 1 s segments lists 2,592,000 of them (about 90 MB). The
simulation writes that list as the reader would (in steps of `--step` lines, each picked up by a poll
and deleted, as clips are cut), then times `--polls` polls that each find one new line. ffprobe's
count of a segment is replaced by a constant: what is measured is the list and the spool's state,
not ffprobe. For comparison, the previous way is timed on the same list: the whole list read and
split at every poll (ten a second), and a set of every segment name ever listed.

Reported per day: median and p95 seconds per poll, list bytes read per poll, and the memory the
spool holds (the bytes of the `Spool` object and everything it refers to), beside the old way's
(its name set, measured the same way).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamclip.live.argv import SEGMENT_LIST
from streamclip.live.spool import Spool

FRAMES_PER_SEGMENT = 25
SEGMENTS_PER_DAY = 86_400  # 1 s segments (live.segment_s = 1.0, the default)


def cpu_line() -> str:
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = sorted(f for f in flags if f == "avx2" or f.startswith(("avx512", "amx")))
    return f"{os.cpu_count()} CPUs, flags: {' '.join(wanted) or 'none of avx2/avx512*/amx*'}"


def lines(first: int, count: int) -> bytes:
    return b"".join(f"seg{n:06d}.ts,{n:.6f},{n + 1:.6f}\n".encode() for n in range(first, first + count))


async def one_frame_count(path: Path) -> int:
    return FRAMES_PER_SEGMENT


async def run_to(spool: Spool, listing: Path, start: int, end: int, step: int) -> None:
    """The reader lists segments start..end-1; the spool picks them up and clips free them."""
    for first in range(start, end, step):
        with listing.open("ab") as f:
            f.write(lines(first, min(step, end - first)))
        await spool.poll()
        spool.delete_before(spool.frames, up_to_index=spool.finished)


async def timed_polls(spool: Spool, listing: Path, polls: int) -> tuple[list[float], float]:
    """`polls` polls that each find one new line: their seconds, and the list bytes read per poll."""
    times, read_before = [], spool.list_bytes_read
    for _ in range(polls):
        with listing.open("ab") as f:
            f.write(lines(spool.finished, 1))
        started = time.perf_counter()
        found = await spool.poll()
        times.append(time.perf_counter() - started)
        assert len(found) == 1
        spool.delete_before(spool.frames, up_to_index=spool.finished)
    return times, (spool.list_bytes_read - read_before) / polls


def old_poll(listing: Path, finished: int) -> list[str]:
    """The previous `Spool._listed`: the whole list read and split, then sliced."""
    text = listing.read_text(encoding="utf-8", errors="replace")
    names = [line.split(",", 1)[0] for line in text.split("\n")[:-1] if line]
    return names[finished:]


def old_way(listing: Path, polls: int) -> tuple[list[float], int, int]:
    """The old poll's seconds on this list, the bytes it read per poll, and its name set's size."""
    with listing.open("rb") as f:
        finished = sum(1 for _ in f)
    times = []
    for _ in range(polls):
        with listing.open("ab") as f:
            f.write(lines(finished, 1))
        started = time.perf_counter()
        assert len(old_poll(listing, finished)) == 1
        times.append(time.perf_counter() - started)
        finished += 1
    with listing.open("rb") as f:
        names = {line.split(b",", 1)[0].decode() for line in f}
    assert len(names) == finished
    return times, listing.stat().st_size, held_bytes(names)


SKIPPED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def held_bytes(root: object) -> int:
    """The bytes of `root` and of everything it refers to (not classes, modules or functions)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, SKIPPED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--days", type=int, nargs=2, default=[1, 30], metavar=("FIRST", "LAST"), help="days compared")
    parser.add_argument("--polls", type=int, default=500, help="timed polls per day (new way)")
    parser.add_argument("--old-polls", type=int, default=5, help="timed polls per day (old way: slow on a month)")
    parser.add_argument("--step", type=int, default=50_000, help="lines listed between catch-up polls")
    parser.add_argument("--quick", action="store_true", help="day 1 vs day 3, 100 polls: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.days, args.polls, args.old_polls = [1, 3], 100, 3
    print(cpu_line())
    print(f"1 s segments, {FRAMES_PER_SEGMENT} frames each; python {sys.version.split()[0]}")
    header = "| day | segments listed | list MB | new: median µs/poll | p95 µs | bytes read/poll | spool holds |"
    header += " old: median ms/poll | bytes read/poll | name set MB |"
    print(header)
    print("|" + "---:|" * 10)
    with tempfile.TemporaryDirectory(prefix="spool-bench-") as tmp:
        spool = Spool(Path(tmp) / "spool", count=one_frame_count)
        listing = spool.folder / SEGMENT_LIST
        for day in args.days:
            await run_to(spool, listing, spool.finished, day * SEGMENTS_PER_DAY, args.step)
            memory = held_bytes(spool)
            times, per_poll = await timed_polls(spool, listing, args.polls)
            old_times, old_read, old_set = old_way(listing, args.old_polls)
            median, p95 = summary(times)
            size_mb = listing.stat().st_size / 1e6
            print(
                f"| {day} | {spool.finished:,} | {size_mb:.1f} | {median * 1e6:.1f} | {p95 * 1e6:.1f} "
                f"| {per_poll:.0f} | {memory / 1024:.1f} KiB | {statistics.median(old_times) * 1e3:.0f} "
                f"| {old_read:,} | {old_set / 1e6:.0f} |"
            )
            await spool.poll()  # the lines the old way listed
            spool.delete_before(spool.frames, up_to_index=spool.finished)


if __name__ == "__main__":
    asyncio.run(main())
