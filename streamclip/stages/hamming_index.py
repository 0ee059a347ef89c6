"""Nearest neighbours in Hamming space for 64-bit codes: multi-index hashing (MIH), in memory.

Norouzi, Punjani and Fleet (CVPR 2012): split each code into `PARTS` substrings. If two codes are
within distance r, at least one of their substrings is within `r // PARTS` of the other's (were
all PARTS substrings `r // PARTS + 1` or more apart, the codes would be more than r apart). So a
query looks up, in each substring's table, every value within `r // PARTS` of its own substring,
and checks only those candidates' full codes.

Why 3 substrings of 22/21/21 bits, not r + 1 substrings with exact matches: the substring tables
work best when a substring has about log2(N) bits, so each value holds a handful of codes. At 10
million codes a 21-bit substring holds ~5 codes per value; r = 8 probes 1 + 22 + 231 values per
table (radius 2), about 700 probes and a few thousand candidates per query. With r + 1 = 9
substrings of 7 bits, each exact probe would hit ~80,000 codes. A BK-tree measured worse still at
these sizes: random 64-bit codes are ~32 apart, so its triangle-inequality pruning keeps most of
the tree (benchmarks/dedup_bench.py).

The tables are sorted arrays (numpy), not dicts: 3 x (4-byte substring + 4-byte row) + the 8-byte
code + the 16-byte uuid per entry, ~40 bytes, where a dict of Python ints and lists costs several
times that. New codes go to an unsorted tail that queries scan directly; once the tail outgrows a
quarter of the sorted part, or 65,536 codes, it is merged in (a stable sort of two sorted runs,
linear): at 10 million codes a merge every 65,536 inserts, ~15 µs per insert amortised.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

PARTS = 3
PART_BITS = (22, 21, 21)  # high bits first; they add up to 64
PART_SHIFTS = (42, 21, 0)
MAX_DISTANCE = 16  # beyond this, probes per query grow past ~30,000 (radius 5 in 22 bits)
MIN_TAIL = 4096  # an unsorted tail this short is scanned rather than merged
MAX_TAIL = 65_536  # nor longer than this: a query scans the tail whole (~0.1 ms at this length)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


class Match(NamedTuple):
    """An indexed clip near a query: its uuid and its distance in bits."""

    key: uuid.UUID
    distance: int


def substrings(code: int) -> tuple[int, int, int]:
    """The three substrings of a 64-bit code (high bits first)."""
    return tuple((code >> shift) & ((1 << bits) - 1) for shift, bits in zip(PART_SHIFTS, PART_BITS, strict=True))  # type: ignore[return-value]


@functools.cache
def flip_masks(bits: int, radius: int) -> U64:
    """Every `bits`-bit value with at most `radius` bits set: XOR-ing a substring with these gives
    every value within `radius` of it (the value itself first)."""
    masks = [0]
    for weight in range(1, min(radius, bits) + 1):
        masks += [sum(1 << b for b in chosen) for chosen in itertools.combinations(range(bits), weight)]
    return np.array(masks, dtype=np.uint64)


def probes(code: int, max_distance: int) -> list[U64]:
    """Per substring table, the values a query for `code` within `max_distance` looks up."""
    radius = max_distance // PARTS
    return [np.uint64(part) ^ flip_masks(bits, radius) for part, bits in zip(substrings(code), PART_BITS, strict=True)]


def check_distance(max_distance: int) -> None:
    if not 0 <= max_distance <= MAX_DISTANCE:
        raise ValueError(f"max_distance must be between 0 and {MAX_DISTANCE} bits, not {max_distance}")


class HammingIndex:
    """64-bit codes keyed by uuid; `first_within` finds the earliest added code within a distance."""

    def __init__(self, max_distance: int, capacity: int = 1024) -> None:
        check_distance(max_distance)
        self.max_distance = max_distance
        self._codes: U64 = np.zeros(capacity, dtype=np.uint64)
        self._keys = np.zeros(capacity, dtype="V16")  # uuid bytes; row = the order codes came in
        self._rows: dict[bytes, int] | None = {}  # uuid -> row, for `__contains__`
        self._size = 0
        self._sorted = 0  # rows [0, _sorted) are in the tables, the rest is the tail
        self._tables: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]] = []

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: uuid.UUID) -> bool:
        return self._rows is not None and key.bytes in self._rows

    def add(self, key: uuid.UUID, code: int) -> None:
        """Index `code` under `key` (a key already present is left as it is)."""
        if key in self:
            return
        self.add_many([code], [key])

    def add_many(self, codes: Iterable[int] | U64, keys: Iterable[uuid.UUID] | None = None) -> None:
        """Index many codes at once (`keys` None: random uuids, for benchmarks)."""
        new = np.asarray(codes if isinstance(codes, np.ndarray) else list(codes), dtype=np.uint64)
        raw = np.frombuffer(np.random.bytes(16 * len(new)), dtype="V16") if keys is None else [k.bytes for k in keys]
        self._reserve(self._size + len(new))
        end = self._size + len(new)
        self._codes[self._size : end] = new
        self._keys[self._size : end] = raw
        if keys is None:
            self._rows = None  # a bulk load for benchmarks: no per-key lookups
        elif self._rows is not None:
            self._rows.update((bytes(k), row) for row, k in enumerate(raw, start=self._size))
        self._size = end
        if self._size - self._sorted > min(max(MIN_TAIL, self._sorted // 4), MAX_TAIL):
            self.compact()

    def claim(self, key: uuid.UUID, code: int) -> Match | None:
        """The first indexed clip within `max_distance` of `code`; when there is none, `code` is
        indexed under `key` and None returned. A key already indexed is an original (None)."""
        if key in self:
            return None
        found = self.first_within(code)
        if found is None:
            self.add(key, code)
        return found

    def close(self) -> None:
        return None

    def first_within(self, code: int, *, exclude: uuid.UUID | None = None) -> Match | None:
        """The earliest added code within `max_distance` of `code` (other than `exclude`'s)."""
        rows = self._candidates(code)
        distances = np.bitwise_count(self._codes[rows] ^ np.uint64(code))
        near = rows[distances <= self.max_distance]
        if exclude is not None:
            near = near[self._keys[near] != np.void(exclude.bytes)]
        if not len(near):
            return None
        row = int(near.min())
        return Match(uuid.UUID(bytes=bytes(self._keys[row])), (int(self._codes[row]) ^ code).bit_count())

    def within(self, code: int) -> list[Match]:
        """Every indexed code within `max_distance`, in the order they were added."""
        rows = np.sort(self._candidates(code))
        distances = np.bitwise_count(self._codes[rows] ^ np.uint64(code))
        keep = distances <= self.max_distance
        return [
            Match(uuid.UUID(bytes=bytes(k)), int(d))
            for k, d in zip(self._keys[rows[keep]], distances[keep], strict=True)
        ]

    def nbytes(self) -> int:
        """Memory held by the arrays (the benchmark's figure; the uuid dict is extra)."""
        return self._codes.nbytes + self._keys.nbytes + sum(a.nbytes + b.nbytes for a, b in self._tables)

    def _candidates(self, code: int) -> I64:
        """Rows that share a substring within `max_distance // PARTS` with `code` (each once, in
        the order they were added), then every row of the tail."""
        tail = np.arange(self._sorted, self._size, dtype=np.int64)
        if not self._tables:  # nothing merged yet: the tail is everything
            return tail
        found = []
        for (values, rows), wanted in zip(self._tables, probes(code, self.max_distance), strict=True):
            # In the tables' type (else numpy converts the whole table on each call), sorted (numpy's
            # binary search starts from the previous key's place), bounds of v as [v, v + 1).
            keys = np.sort(wanted.astype(np.int64))
            bounds = np.searchsorted(values, np.concatenate((keys, keys + 1)).astype(np.uint32), side="left")
            low, high = bounds[: len(keys)], bounds[len(keys) :]
            hit = high > low
            found.append(rows[_ranges(low[hit], high[hit])])
        # A row may share several substrings; the tail's rows come after every table's.
        return np.concatenate((np.unique(np.concatenate(found)).astype(np.int64), tail))

    def _reserve(self, size: int) -> None:
        if size <= len(self._codes):
            return
        capacity = max(size, 2 * len(self._codes))
        self._codes = np.resize(self._codes, capacity)
        self._keys = np.resize(self._keys, capacity)

    def compact(self) -> None:
        """Merge the unsorted tail into the tables now (done by itself as the tail grows): sort
        its substrings, then a stable sort of the two sorted runs, which is a linear merge."""
        tail_rows = np.arange(self._sorted, self._size, dtype=np.uint32)
        tail = self._codes[self._sorted : self._size]
        tables = []
        for number, (shift, bits) in enumerate(zip(PART_SHIFTS, PART_BITS, strict=True)):
            part = ((tail >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.uint32)
            order = np.argsort(part, kind="stable")
            values, rows = self._tables[number] if self._tables else (part[:0], tail_rows[:0])
            values = np.concatenate((values, part[order]))
            rows = np.concatenate((rows, tail_rows[order]))
            merged = np.argsort(values, kind="stable")
            tables.append((values[merged], rows[merged]))
        self._tables = tables
        self._sorted = self._size


def _ranges(low: npt.NDArray[np.intp], high: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """The concatenation of `range(low[i], high[i])` for every i, without a Python loop."""
    lengths = high - low
    if not len(lengths):
        return np.zeros(0, dtype=np.intp)
    starts = np.repeat(low - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.asarray(np.arange(int(lengths.sum())) + starts)
