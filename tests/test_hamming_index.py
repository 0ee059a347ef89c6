"""The near-duplicate index answers exactly like a scan of every code, in memory and in SQLite."""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamclip.stages.hamming_index import MAX_DISTANCE, HammingIndex, Match, flip_masks, substrings
from streamclip.stages.hamming_store import HammingStore

CODE = st.integers(min_value=0, max_value=(1 << 64) - 1)


def brute_force(entries: list[tuple[uuid.UUID, int]], code: int, max_distance: int) -> list[Match]:
    """The plain reference: every code within the distance, in the order they were added."""
    return [
        Match(key, (stored ^ code).bit_count())
        for key, stored in entries
        if (stored ^ code).bit_count() <= max_distance
    ]


def near(code: int, flips: list[int]) -> int:
    for bit in flips:
        code ^= 1 << bit
    return code


@st.composite
def clustered_codes(draw: st.DrawFn) -> tuple[list[int], list[int], int]:
    """Codes around a few centres (random codes alone are ~32 bits apart: nothing is ever near),
    queries near those centres, and a distance."""
    centres = draw(st.lists(CODE, min_size=1, max_size=4))
    flips = st.lists(st.integers(0, 63), max_size=12)
    codes = [near(draw(st.sampled_from(centres)), draw(flips)) for _ in range(draw(st.integers(1, 60)))]
    codes += draw(st.lists(CODE, max_size=20))
    queries = [near(draw(st.sampled_from(centres)), draw(flips)) for _ in range(5)] + [draw(CODE)]
    return codes, queries, draw(st.integers(0, MAX_DISTANCE))


@settings(max_examples=40, deadline=None)
@given(clustered_codes())
def test_memory_index_matches_a_brute_force_scan(case: tuple[list[int], list[int], int]) -> None:
    codes, queries, max_distance = case
    entries = [(uuid.uuid4(), code) for code in codes]
    index = HammingIndex(max_distance)
    for number, (key, code) in enumerate(entries):
        index.add(key, code)
        if number == len(entries) // 2:
            index.compact()  # the first half in the sorted tables, the rest in the tail
    for query in queries:
        expected = brute_force(entries, query, max_distance)
        assert index.within(query) == expected
        assert index.first_within(query) == (expected[0] if expected else None)


def test_memory_index_matches_brute_force_across_merges() -> None:
    """Thousands of codes: the sorted tables and the unsorted tail are both searched, before and
    after the tail is merged in."""
    rng = random.Random(7)
    centres = [rng.getrandbits(64) for _ in range(50)]
    entries = [
        (uuid.uuid4(), near(rng.choice(centres), rng.sample(range(64), rng.randint(0, 10)))) for _ in range(12_000)
    ]
    index = HammingIndex(9)
    for start in range(0, len(entries), 3000):
        index.add_many(
            [code for _, code in entries[start : start + 3000]], [key for key, _ in entries[start : start + 3000]]
        )
        added = entries[: start + 3000]
        for _ in range(30):
            query = near(rng.choice(centres), rng.sample(range(64), rng.randint(0, 8)))
            assert index.within(query) == brute_force(added, query, 9)


def test_claim_keeps_the_first_and_never_indexes_a_duplicate() -> None:
    index = HammingIndex(4)
    first, copy, other, copy_of_copy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    code = 0x0123_4567_89AB_CDEF
    assert index.claim(first, code) is None
    assert index.claim(copy, code ^ 0b111) == Match(first, 3)
    assert index.claim(other, ~code & ((1 << 64) - 1)) is None  # 64 bits away: an original
    # The copy was not indexed: a code 4 bits from it but 5 from the original is not a duplicate.
    assert index.claim(copy_of_copy, code ^ 0b1111_1000) is None
    assert len(index) == 3
    assert index.claim(first, code) is None  # a clip seen again (resumed) is still the original


def test_flip_masks_are_every_value_within_the_radius() -> None:
    masks = flip_masks(21, 2)
    assert len(masks) == 1 + 21 + 21 * 20 // 2 == len(set(masks.tolist()))
    assert max(int(m).bit_count() for m in masks) == 2
    code = random.Random(3).getrandbits(64)
    high, middle, low = substrings(code)
    assert (high << 42) | (middle << 21) | low == code


def test_distance_outside_the_supported_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_distance"):
        HammingIndex(MAX_DISTANCE + 1)
    with pytest.raises(ValueError, match="max_distance"):
        HammingStore(tmp_path / "index.sqlite", -1)


# ---------------------------------------------------------------------------------------------
# The SQLite store: the same answers, kept across openings, shared between pipelines


@settings(max_examples=20, deadline=None)
@given(clustered_codes())
def test_store_matches_a_brute_force_scan(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[list[int], list[int], int]
) -> None:
    codes, queries, max_distance = case
    entries = [(uuid.uuid4(), code) for code in codes]
    store = HammingStore(tmp_path_factory.mktemp("store") / "index.sqlite", max_distance)
    try:
        store.add_many(entries)
        for query in queries:
            expected = brute_force(entries, query, max_distance)
            assert store.first_within(query) == (expected[0] if expected else None)
    finally:
        store.close()


def test_store_keeps_codes_across_openings(tmp_path: Path) -> None:
    path = tmp_path / "near_duplicates.sqlite"
    original, reupload = uuid.uuid4(), uuid.uuid4()
    code = (1 << 63) | 0xFACE  # the top bit set: stored as a negative SQLite integer, read back whole
    first = HammingStore(path, 8)
    assert first.claim(original, code) is None
    first.close()
    second = HammingStore(path, 8)
    try:
        assert second.claim(reupload, code ^ (1 << 62) ^ 1) == Match(original, 2)
        assert second.claim(original, code) is None  # itself, indexed last time: still the original
        assert len(second) == 1
    finally:
        second.close()


def test_two_stores_on_one_file_make_exactly_one_original(tmp_path: Path) -> None:
    """Two pipelines claiming copies of one clip at the same moment: one wins, one is flagged."""
    path = tmp_path / "shared.sqlite"
    stores = [HammingStore(path, 8), HammingStore(path, 8)]
    keys = [uuid.uuid4(), uuid.uuid4()]
    results: list[Match | None] = [None, None]
    barrier = threading.Barrier(2)

    def claim(number: int) -> None:
        barrier.wait()
        results[number] = stores[number].claim(keys[number], 0xABCDEF)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    winners = [n for n in range(2) if results[n] is None]
    assert len(winners) == 1
    assert results[1 - winners[0]] == Match(keys[winners[0]], 0)


def test_bulk_codes_as_numpy_array() -> None:
    """The benchmark's path: codes as a uint64 array, random keys."""
    codes = np.random.default_rng(1).integers(0, 1 << 63, size=20_000, dtype=np.uint64)
    index = HammingIndex(6)
    index.add_many(codes)
    assert len(index) == 20_000
    found = index.first_within(int(codes[1234]))
    assert found is not None
    assert found.distance == 0
