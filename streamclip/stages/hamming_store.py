"""The near-duplicate index kept on disk (SQLite), so the daemon catches a re-upload across runs.

The same multi-index hashing as `hamming_index` (read its docstring), with SQLite's B-trees as the
substring tables: one row per indexed clip with its code and its three substrings, each substring
column indexed. A query is one `IN (...)` lookup per substring column with the probe values, then
an exact distance check of the few candidates in Python. Nothing is loaded at start, so a daemon
with millions of clips opens the file in milliseconds, and two pipelines (or a restarted daemon)
sharing the file see each other's clips: `claim` checks and inserts in one `BEGIN IMMEDIATE`
transaction, so of two copies processed at once exactly one becomes the original.

The file sits beside the ledger by default (its own file, so that the ledger's short transactions
never wait on an index lookup). Calls block: the dedup stage makes them in a thread, one at a time.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from streamclip.errors import ConfigError
from streamclip.stages.hamming_index import Match, check_distance, probes, substrings

SCHEMA_VERSION = 1
TABLE_SQL = """
CREATE TABLE IF NOT EXISTS near_duplicate_codes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    code INTEGER NOT NULL,
    p0 INTEGER NOT NULL,
    p1 INTEGER NOT NULL,
    p2 INTEGER NOT NULL
);
"""
# Each substring index holds the code too (and the row id, as every SQLite index does): a lookup
# reads candidates from the index alone, never from the table (measured at 10 million codes: a
# third of the CPU of reading each candidate's row). Kept apart from the table so that a bulk load
# (benchmarks/dedup_bench.py) can build them after the rows, each sorted once.
INDEX_SQL = """
CREATE INDEX IF NOT EXISTS near_duplicate_p0 ON near_duplicate_codes (p0, code);
CREATE INDEX IF NOT EXISTS near_duplicate_p1 ON near_duplicate_codes (p1, code);
CREATE INDEX IF NOT EXISTS near_duplicate_p2 ON near_duplicate_codes (p2, code);
"""
_BATCH = 900  # probe values per statement (well under SQLite's 32,766 variables)


def signed(code: int) -> int:
    """SQLite integers are signed 64-bit: store the code's bit pattern as one."""
    return code - (1 << 64) if code >= 1 << 63 else code


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


class HammingStore:
    """64-bit codes keyed by uuid in a SQLite file; `claim` = find the first near code or index this one."""

    def __init__(self, path: str | Path, max_distance: int) -> None:
        check_distance(max_distance)
        self.path = Path(path)
        self.max_distance = max_distance
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise ConfigError(f"{self.path}: near-duplicate index of schema {version}, expected {SCHEMA_VERSION}")
            self._db.executescript(TABLE_SQL + INDEX_SQL)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM near_duplicate_codes").fetchone()[0])

    def claim(self, key: uuid.UUID, code: int) -> Match | None:
        """The first indexed clip within `max_distance` of `code`; when there is none, `code` is
        indexed under `key` and None returned. A key already indexed is an original (None)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                found = self._first_within(code, key)
                if found is None:
                    self._insert([(key, code)])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return found

    def first_within(self, code: int, *, exclude: uuid.UUID | None = None) -> Match | None:
        """The earliest indexed code within `max_distance` of `code` (other than `exclude`'s)."""
        with self._lock:
            return self._first_within(code, exclude)

    def add_many(self, entries: Iterable[tuple[uuid.UUID, int]]) -> None:
        """Index many codes in one transaction (keys already present are left as they are)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._insert(entries)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _insert(self, entries: Iterable[tuple[uuid.UUID, int]]) -> None:
        rows = ((key.bytes, signed(code), *substrings(code)) for key, code in entries)
        self._db.executemany(
            "INSERT OR IGNORE INTO near_duplicate_codes (uuid, code, p0, p1, p2) VALUES (?, ?, ?, ?, ?)", rows
        )

    def _first_within(self, code: int, exclude: uuid.UUID | None) -> Match | None:
        if exclude is not None:
            own = self._db.execute("SELECT 1 FROM near_duplicate_codes WHERE uuid = ?", (exclude.bytes,)).fetchone()
            if own is not None:  # indexed before (a resumed video): it was an original then
                return None
        best: tuple[int, int] | None = None  # (seq, distance) of the earliest code within reach
        for column, values in enumerate(probes(code, self.max_distance)):
            wanted = [int(v) for v in values]
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                marks = ", ".join("?" * len(batch))
                query = f"SELECT seq, code FROM near_duplicate_codes WHERE p{column} IN ({marks})"
                for seq, stored in self._db.execute(query, batch):
                    distance = (_unsigned(stored) ^ code).bit_count()
                    if distance <= self.max_distance and (best is None or seq < best[0]):
                        best = (seq, distance)
        if best is None:
            return None
        key = self._db.execute("SELECT uuid FROM near_duplicate_codes WHERE seq = ?", (best[0],)).fetchone()[0]
        return Match(uuid.UUID(bytes=key), best[1])
