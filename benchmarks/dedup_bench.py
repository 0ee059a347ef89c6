"""The near-duplicate index at 1 and 10 million clips (issue 21): lookup time, insert rate, memory.

    python benchmarks/dedup_bench.py             # 1 and 10 million codes, memory and SQLite
    python benchmarks/dedup_bench.py --quick     # 100,000 and 1 million: a smoke run
    python benchmarks/dedup_bench.py --sizes 1000000 --no-sqlite

For each size N, N random 64-bit codes are indexed; half the lookups are indexed codes with 0 to 8
bits flipped (near-duplicates a lookup must find), half fresh random codes (which find nothing).
At the default distance (8 bits):

- memory index (`HammingIndex`, multi-index hashing on sorted numpy arrays; one `split` run): the
  bulk load, single inserts on top of it (each `claim` of a new clip), the merge of a full tail
  of unsorted inserts into the sorted tables (what inserts cost amortised), lookups
  (`first_within`: half of them planted near-duplicates, which must be found exactly, half random
  codes, which find nothing), its bytes, and the process's RSS growth;
- the same lookups as a numpy scan of every code (XOR + popcount over N: the "no index" baseline)
  and, at the first size only, a BK-tree (the other textbook structure for Hamming distance) on
  up to 1 million codes: its build time, lookup time and the share of the tree a lookup visits;
- SQLite store (`HammingStore`, the daemon's, kept across runs): a bulk build of the file (rows,
  then the substring indexes), lookups, `claim` (lookup + insert + commit of a new clip), file size.

Random codes are the hard case for the substring tables: real pHashes cluster, which makes some
substring values crowded (more candidates per probe), and also makes near-duplicates common (the
lookup ends at the first one). Medians and 95th percentiles of per-lookup CPU time of the thread
(the machines these run on are shared: wall time measures the neighbours), wall time for what
waits on the disk (claims, builds); the ratios (scan / index) come from the same run and queries.
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamclip.stages.hamming_index import MAX_TAIL, PART_BITS, PART_SHIFTS, HammingIndex
from streamclip.stages.hamming_store import INDEX_SQL, TABLE_SQL, HammingStore, signed

MAX_DISTANCE = 8
CLAIMS = 10_000  # single claims (lookup + insert into the tail) on top of the bulk load


def cpu_line() -> str:
    from streamclip.detector.network import cpu_flags

    wanted = ["avx2", "avx512f", "avx512_vpopcntdq", "avx512_bitalg", "popcnt", "bmi2"]
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")  # fmt: skip
    return f"{model}, {os.cpu_count()} CPUs, flags: " + " ".join(f for f in wanted if f in cpu_flags())


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def flip(code: int, bits: list[int]) -> int:
    for bit in bits:
        code ^= 1 << bit
    return code


def make_queries(codes: np.ndarray, count: int, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """(near, far): codes within MAX_DISTANCE of an indexed one, and fresh random codes."""
    near = []
    for _ in range(count // 2):
        bits = rng.choice(64, size=int(rng.integers(0, MAX_DISTANCE + 1)), replace=False)
        near.append(flip(int(codes[rng.integers(len(codes))]), [int(b) for b in bits]))
    far = [int(c) for c in rng.integers(0, 2**63, size=count - count // 2, dtype=np.uint64) * np.uint64(2)]
    return near, far


def timed(
    fn: Callable[[int], object], queries: list[int], clock: Callable[[], float] = time.perf_counter
) -> tuple[list[float], list[object]]:
    times, answers = [], []
    for query in queries:
        started = clock()
        answers.append(fn(query))
        times.append(clock() - started)
    return times, answers


def cpu_timed(fn: Callable[[int], object], queries: list[int]) -> tuple[list[float], list[object]]:
    """Per-lookup CPU time of this thread: the machine may be shared, its wall time is not ours."""
    return timed(fn, queries, time.thread_time)


def ms(times: list[float]) -> str:
    ordered = sorted(times)
    return (
        f"median {statistics.median(ordered) * 1e3:.3f} ms, p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1e3:.3f} ms"
    )


def scan(codes: np.ndarray) -> Callable[[int], object]:
    def first(query: int) -> object:
        near = np.flatnonzero(np.bitwise_count(codes ^ np.uint64(query)) <= MAX_DISTANCE)
        return int(near[0]) if len(near) else None

    return first


class BKTree:
    """A plain BK-tree (children keyed by distance), for comparison only."""

    def __init__(self) -> None:
        self.root: tuple[int, dict[int, object]] | None = None
        self.visited = 0

    def add(self, code: int) -> None:
        if self.root is None:
            self.root = (code, {})
            return
        node = self.root
        while True:
            distance = (node[0] ^ code).bit_count()
            child = node[1].get(distance)
            if child is None:
                node[1][distance] = (code, {})
                return
            node = child  # type: ignore[assignment]

    def first_within(self, code: int) -> int | None:
        stack = [self.root] if self.root is not None else []
        found = None
        while stack:
            stored, children = stack.pop()  # type: ignore[misc]
            self.visited += 1
            distance = (stored ^ code).bit_count()
            if distance <= MAX_DISTANCE:
                found = stored
            stack += [child for d, child in children.items() if distance - MAX_DISTANCE <= d <= distance + MAX_DISTANCE]
        return found


def bench_memory(codes: np.ndarray, near: list[int], far: list[int], rng: np.random.Generator) -> dict[str, float]:
    gc.collect()
    before = rss_mib()
    index = HammingIndex(MAX_DISTANCE)
    started = time.perf_counter()
    index.add_many(codes)
    index.compact()
    load_s = time.perf_counter() - started
    grown = rss_mib() - before
    arrays = index.nbytes()
    print(f"  memory index: bulk load {len(codes):,} in {load_s:.1f} s ({len(codes) / load_s:,.0f}/s), "
          f"arrays {arrays / 2**20:.0f} MiB ({arrays / len(codes):.1f} B/code), RSS +{grown:.0f} MiB")  # fmt: skip
    fresh = rng.integers(0, 2**63, size=CLAIMS, dtype=np.uint64)
    keys = [uuid.uuid4() for _ in range(len(fresh))]
    started = time.thread_time()
    for key, code in zip(keys, fresh.tolist(), strict=True):
        index.claim(key, code)
    claim_s = (time.thread_time() - started) / len(fresh)
    print(f"  memory index: claim (lookup, then insert) of {CLAIMS:,} new clips on top: "
          f"{claim_s * 1e6:.0f} µs CPU each ({1 / claim_s:,.0f}/s)")  # fmt: skip
    index.add_many(rng.integers(0, 2**63, size=MAX_TAIL, dtype=np.uint64))  # a full tail, merged on the next add
    started = time.perf_counter()
    index.compact()
    merge_s = time.perf_counter() - started
    print(f"  memory index: merging a full tail ({MAX_TAIL:,}) into {len(index):,}: {merge_s:.2f} s "
          f"({merge_s / MAX_TAIL * 1e6:.1f} µs per insert amortised)")  # fmt: skip
    near_t, near_found = cpu_timed(lambda q: index.first_within(q), near)
    far_t, _ = cpu_timed(lambda q: index.first_within(q), far)
    missed = sum(found is None for found in near_found)
    print(f"  memory index lookups (CPU): planted {ms(near_t)}; random {ms(far_t)}; planted missed: {missed}")
    return {"near": statistics.median(near_t), "far": statistics.median(far_t), "missed": missed}


def bench_scan(codes: np.ndarray, near: list[int], far: list[int]) -> float:
    times, _ = cpu_timed(scan(codes), (near + far)[:40])
    print(f"  numpy scan of every code (CPU): {ms(times)}")
    return statistics.median(times)


def bench_bktree(codes: np.ndarray, near: list[int], far: list[int]) -> None:
    count = min(len(codes), 1_000_000)
    tree = BKTree()
    started = time.perf_counter()
    for code in codes[:count].tolist():
        tree.add(code)
    build_s = time.perf_counter() - started
    queries = near[:20] + far[:20]
    tree.visited = 0
    times, _ = cpu_timed(tree.first_within, queries)
    share = tree.visited / len(queries) / count
    print(f"  BK-tree on {count:,}: build {build_s:.1f} s; lookups (CPU) {ms(times)}; "
          f"visits {share:.0%} of the tree per lookup")  # fmt: skip


def build_sqlite(path: Path, codes: np.ndarray) -> None:
    """The store's file with `codes` in it, built as a bulk load would: rows first, then the
    substring indexes (each sorted once). The daemon itself only ever adds one clip at a time."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(TABLE_SQL)
    db.execute("BEGIN")
    step = 500_000
    for start in range(0, len(codes), step):
        chunk = codes[start : start + step]
        parts = [((chunk >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).tolist()
                 for shift, bits in zip(PART_SHIFTS, PART_BITS, strict=True)]  # fmt: skip
        rows = zip(
            (uuid.UUID(int=start + n).bytes for n in range(len(chunk))),
            (signed(code) for code in chunk.tolist()),
            *parts,
            strict=True,
        )
        db.executemany("INSERT INTO near_duplicate_codes (uuid, code, p0, p1, p2) VALUES (?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    db.executescript(INDEX_SQL)
    db.close()


def bench_sqlite(codes: np.ndarray, near: list[int], far: list[int], folder: Path) -> None:
    path = folder / f"index-{len(codes)}.sqlite"
    started = time.perf_counter()
    build_sqlite(path, codes)
    load_s = time.perf_counter() - started
    size_mib = sum(p.stat().st_size for p in folder.glob(path.name + "*")) / 2**20
    rate = len(codes) / load_s
    print(f"  SQLite store: bulk build of {len(codes):,} in {load_s:.0f} s ({rate:,.0f}/s), "
          f"file {size_mib:.0f} MiB ({size_mib * 2**20 / len(codes):.0f} B/code)")  # fmt: skip
    store = HammingStore(path, MAX_DISTANCE)
    near_t, near_found = cpu_timed(lambda q: store.first_within(q), near[:200])
    far_t, _ = cpu_timed(lambda q: store.first_within(q), far[:200])
    fresh = np.random.default_rng(9).integers(0, 2**63, size=500, dtype=np.uint64).tolist()
    claim_t, _ = timed(lambda q: store.claim(uuid.uuid4(), q), fresh)
    missed = sum(found is None for found in near_found)
    print(f"  SQLite lookups (CPU): planted {ms(near_t)}; random {ms(far_t)}; planted missed: {missed}")
    print(f"  SQLite claim of a new clip (lookup + insert + commit, wall): {ms(claim_t)}")
    store.close()
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 and 1 million codes")
    parser.add_argument("--sizes", type=int, nargs="*", help="index sizes (default 1 and 10 million)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--sqlite-only", action="store_true", help="the SQLite store alone")
    args = parser.parse_args()
    sizes = args.sizes or ([100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000])
    print(cpu_line())
    print(f"numpy {np.__version__}, SQLite {sqlite3.sqlite_version}; max_distance {MAX_DISTANCE} bits\n")
    rng = np.random.default_rng(2026)
    ratios = []
    for number, size in enumerate(sizes):
        print(f"N = {size:,}")
        codes = rng.integers(0, 2**63, size=size, dtype=np.uint64) * np.uint64(2) + rng.integers(
            0, 2, size=size, dtype=np.uint64
        )
        near, far = make_queries(codes, args.queries, rng)
        if not args.sqlite_only:
            found = bench_memory(codes, near, far, rng)
            scan_s = bench_scan(codes, near, far)
            ratios.append((size, scan_s / found["near"], scan_s / found["far"]))
        if number == 0 and not args.sqlite_only:
            bench_bktree(codes, near, far)
        if not args.no_sqlite:
            with tempfile.TemporaryDirectory(prefix="dedup-bench-") as folder:
                bench_sqlite(codes, near, far, Path(folder))
        print()
    if ratios:
        print("ratios (one run, same queries): numpy scan time / memory index time")
    for size, near_ratio, far_ratio in ratios:
        print(f"  N = {size:>12,}: planted {near_ratio:,.1f}x, random {far_ratio:,.1f}x")
    print(f"\n{cpu_line()}")


if __name__ == "__main__":
    main()
