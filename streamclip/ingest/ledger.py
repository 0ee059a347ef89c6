"""The ingest ledger: one row per source in SQLite (WAL), plus the clips written for it.

A row says where a source stands (`queued`, `running`, `done`, `failed`, `quarantined`) for a
given content fingerprint and settings hash. A restart skips `done` sources and resubmits the
others; the clips already in the output folder are then reused, not encoded again (same source and
span, same uuid). The clip table lets the daemon remove the clips of a source whose content or
settings changed, and makes "clips written" exact across restarts.

Every call is one short transaction on a local file (WAL, synchronous=NORMAL: a crashed process
loses nothing committed), quick enough to run on the event loop. A ledger on a network filesystem
is refused (see `filesystems`); a reader (`streamclip status`) opens it read-only, and can read
one in a folder it may not write to.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import msgspec

from streamclip.errors import ConfigError
from streamclip.ingest.filesystems import refuse_network_filesystem

State = Literal["queued", "running", "done", "failed", "quarantined"]
STATES: tuple[State, ...] = ("queued", "running", "done", "failed", "quarantined")
SCHEMA_VERSION = 3  # 2: `kind`, the failure's kind (streamclip.errors.Reason); 3: `facts` (the output served)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s) for s in STATES)})),
    clips INTEGER NOT NULL DEFAULT 0,
    failed_clips INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT '',
    first_seen REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS sources_content ON sources (fingerprint, settings_hash, state);
CREATE INDEX IF NOT EXISTS sources_state ON sources (state);
CREATE TABLE IF NOT EXISTS clips (
    uuid TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    written_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS clips_source ON clips (source);
CREATE TABLE IF NOT EXISTS facts (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
_COLUMNS = (
    "path, size, mtime_ns, fingerprint, settings_hash, state, clips, failed_clips, error, note, "
    "attempts, first_seen, updated_at, started_at, finished_at, kind"
)


class SourceRecord(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    settings_hash: str
    state: State
    clips: int
    failed_clips: int
    error: str
    note: str
    attempts: int
    first_seen: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    kind: str = ""  # the kind of failure (streamclip.errors.Reason) of a failed or quarantined row

    def same_work(self, fingerprint: str, settings_hash: str) -> bool:
        return self.fingerprint == fingerprint and self.settings_hash == settings_hash


class LedgerMismatch(ConfigError):
    """The ledger records another output than the one it is opened for."""


class StateCount(msgspec.Struct, frozen=True, kw_only=True):
    state: State
    sources: int
    clips: int


class Ledger:
    """A small typed API over the SQLite file. Not shared between threads."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self._select = _COLUMNS
        if not create:  # a reader (`streamclip status`): change nothing, read an older schema too
            if not self.path.is_file():
                raise FileNotFoundError(f"no ledger at {self.path}")
            self._db = _open_read_only(self.path)
            if "kind" not in _column_names(self._db):
                self._select = _COLUMNS.replace(", kind", ", '' AS kind")
            return
        refuse_network_filesystem(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _add_missing_columns(self._db)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading --------------------------------------------------------------------------------

    def get(self, path: str) -> SourceRecord | None:
        row = self._db.execute(f"SELECT {self._select} FROM sources WHERE path = ?", (path,)).fetchone()
        return _record(row) if row else None

    def twin_of(self, path: str, fingerprint: str, settings_hash: str) -> SourceRecord | None:
        """Another source with the same content and settings, done or on its way (not itself a twin)."""
        row = self._db.execute(
            f"SELECT {self._select} FROM sources WHERE fingerprint = ? AND settings_hash = ? "
            "AND state IN ('queued', 'running', 'done') AND path != ? AND note NOT LIKE 'duplicate of %' LIMIT 1",
            (fingerprint, settings_hash, path),
        ).fetchone()
        return _record(row) if row else None

    def records(self, *states: State) -> list[SourceRecord]:
        """Rows in the given states (all rows when none is given), most recently updated last."""
        wanted = states or STATES
        marks = ", ".join("?" for _ in wanted)
        rows = self._db.execute(
            f"SELECT {self._select} FROM sources WHERE state IN ({marks}) ORDER BY updated_at, path", wanted
        ).fetchall()
        return [_record(row) for row in rows]

    def summary(self) -> list[StateCount]:
        """Sources and clips per state, every state listed."""
        found = dict.fromkeys(STATES, (0, 0))
        for state, sources, clips in self._db.execute(
            "SELECT state, COUNT(*), COALESCE(SUM(clips), 0) FROM sources GROUP BY state"
        ):
            found[state] = (sources, clips)
        return [StateCount(state=s, sources=n, clips=c) for s, (n, c) in found.items()]

    def clips_of(self, path: str) -> list[str]:
        return [uuid for (uuid,) in self._db.execute("SELECT uuid FROM clips WHERE source = ?", (path,))]

    def output(self) -> str | None:
        """The output this ledger serves (None for a ledger made before it was recorded)."""
        row = self._db.execute("SELECT value FROM facts WHERE name = 'output'").fetchone()
        return str(row[0]) if row else None

    # -- writing --------------------------------------------------------------------------------

    def claim(self, output: str, *, moves_with_it: bool = False) -> None:
        """Record that this ledger serves `output` (a folder's real path, or an s3:// prefix).

        A ledger that records another output is refused (LedgerMismatch): its rows name that
        output's clips, which a daemon removes when their source changes. A ledger kept inside its
        output folder (`moves_with_it`) follows the folder when the folder is moved.
        """
        with self._transaction() as db:
            row = db.execute("SELECT value FROM facts WHERE name = 'output'").fetchone()
            if row is not None and row[0] != output and not moves_with_it:
                raise LedgerMismatch(
                    f"the ledger {self.path} belongs to the output {row[0]}, not {output}: "
                    "give each output its own ledger"
                )
            db.execute(
                "INSERT INTO facts (name, value) VALUES ('output', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (output,),
            )

    def queue(self, path: str, *, size: int, mtime_ns: int, fingerprint: str, settings_hash: str) -> None:
        """Record a source as queued for this content and settings (a new row, or the old one reset)."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sources (path, size, mtime_ns, fingerprint, settings_hash, state, first_seen, "
                "updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, fingerprint = excluded.fingerprint, "
                "settings_hash = excluded.settings_hash, state = 'queued', error = '', note = '', "
                "failed_clips = 0, updated_at = excluded.updated_at, finished_at = NULL",
                (path, size, mtime_ns, fingerprint, settings_hash, now, now),
            )

    def update_content(self, path: str, *, size: int, mtime_ns: int, fingerprint: str) -> None:
        """A followed file was read to this size: that is the content its row stands for now."""
        self._db.execute(
            "UPDATE sources SET size = ?, mtime_ns = ?, fingerprint = ?, updated_at = ? WHERE path = ?",
            (size, mtime_ns, fingerprint, time.time(), path),
        )

    def start(self, path: str) -> None:
        now = time.time()
        self._db.execute(
            "UPDATE sources SET state = 'running', attempts = attempts + 1, started_at = ?, updated_at = ? "
            "WHERE path = ?",
            (now, now, path),
        )

    def add_clip(self, path: str, uuid: str) -> bool:
        """Record a clip written for `path`; False when it was already recorded (a reused clip)."""
        with self._transaction() as db:
            added = db.execute(
                "INSERT OR IGNORE INTO clips (uuid, source, written_at) VALUES (?, ?, ?)", (uuid, path, time.time())
            ).rowcount
            if added:
                db.execute("UPDATE sources SET clips = clips + 1 WHERE path = ?", (path,))
        return bool(added)

    def finish(
        self, path: str, state: State, *, error: str = "", note: str = "", failed_clips: int = 0, kind: str = ""
    ) -> None:
        now = time.time()
        self._db.execute(
            "UPDATE sources SET state = ?, error = ?, note = ?, failed_clips = ?, kind = ?, finished_at = ?, "
            "updated_at = ? WHERE path = ?",
            (state, error, note, failed_clips, kind, now, now, path),
        )

    def interrupt(self, path: str, *, note: str = "interrupted by a shutdown") -> None:
        """Back to `queued`: the daemon stopped in order (a `running` row means it died).

        The start is taken back from `attempts` (a file left `running` after `MAX_ATTEMPTS` starts is
        one the daemon keeps dying on, and is quarantined): an orderly stop is no death on the file.
        """
        self._db.execute(
            "UPDATE sources SET state = 'queued', note = ?, attempts = MAX(attempts - 1, 0), updated_at = ? "
            "WHERE path = ? AND state = 'running'",
            (note, time.time(), path),
        )

    def forget_clips(self, path: str, uuids: list[str] | None = None) -> None:
        """Forget the clips of `path` (those of `uuids` only, when given: the ones really removed)."""
        with self._transaction() as db:
            if uuids is None:
                db.execute("DELETE FROM clips WHERE source = ?", (path,))
            else:
                db.executemany("DELETE FROM clips WHERE source = ? AND uuid = ?", [(path, uuid) for uuid in uuids])
            db.execute("UPDATE sources SET clips = (SELECT COUNT(*) FROM clips WHERE source = ?) WHERE path = ?",
                       (path, path))  # fmt: skip


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a ledger of an older schema up to date (columns added since version 1)."""
    if "kind" not in _column_names(db):
        db.execute("ALTER TABLE sources ADD COLUMN kind TEXT NOT NULL DEFAULT ''")


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open for reading only; where even that fails (a WAL ledger needs its `-shm` file, which a
    reader without write access to the folder cannot create) read the file as it stands."""
    location = urllib.parse.quote(str(path.resolve()))
    db = sqlite3.connect(f"file:{location}?mode=ro", uri=True, isolation_level=None, timeout=10.0)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        db.close()  # no daemon can be writing where the -shm cannot be made: a snapshot is exact
        db = sqlite3.connect(f"file:{location}?immutable=1", uri=True, isolation_level=None)
    return db


def _column_names(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(sources)")}


def _record(row: tuple[object, ...]) -> SourceRecord:
    return msgspec.convert(dict(zip(_COLUMNS.split(", "), row, strict=True)), SourceRecord)
