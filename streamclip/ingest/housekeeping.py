"""File chores of the daemon: its locks, stale work folders, quarantine moves, outdated outputs.

One daemon owns an output folder and one daemon owns a ledger: it holds an exclusive lock on
OUT/.streamclip/daemon.lock (a local output) and on `<ledger>.lock` beside its ledger for its whole
life, so a second daemon given the same output or the same `--ledger` refuses to start. Holding
them, the daemon may remove `.streamclip-work-*` folders left by a killed predecessor (a pipeline
removes its own on any orderly exit).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from pathlib import Path
from typing import IO, NamedTuple

from streamclip.errors import StreamclipError
from streamclip.storage import s3
from streamclip.storage.layout import clip_path, frames_path, meta_path
from streamclip.storage.outputs import S3Output

LOCK_NAME = "daemon.lock"


class OutputLocked(StreamclipError):
    """Another daemon already serves this output folder, or uses this ledger."""


def lock_output(state_dir: Path) -> IO[bytes]:
    """Take the output folder's lock (kept while the returned file stays open)."""
    return _lock(state_dir / LOCK_NAME, f"another streamclip daemon is serving {state_dir.parent}")


def lock_ledger(ledger: Path) -> IO[bytes]:
    """Take the ledger's own lock, `<ledger>.lock` (kept while the returned file stays open)."""
    return _lock(ledger.with_name(f"{ledger.name}.lock"), f"another streamclip daemon is using the ledger {ledger}")


def _lock(path: Path, held_elsewhere: str) -> IO[bytes]:
    """An exclusive `flock` on `path`, which then holds this process's id; OutputLocked when held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")  # noqa: SIM115 - held open for the daemon's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read(32).decode("ascii", "replace").strip()
        handle.close()
        pid = f"process {holder}, " if holder.isdigit() else ""
        raise OutputLocked(f"{held_elsewhere} ({pid}lock {path})") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle


def remove_stale_work(output: Path) -> list[Path]:
    """Remove work folders left in `output` by a process that died (call with the lock held)."""
    removed = []
    for folder in output.glob(".streamclip-work-*"):
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class Removal(NamedTuple):
    removed: list[str]  # the clip ids whose every file (object) is gone
    failure: str = ""  # why the others are not, "" when every one is


def remove_outdated_outputs(output: Path | str, clip_ids: list[str]) -> Removal:
    """Delete the clip, meta and frames of `clip_ids` (a source whose content or settings changed)
    from a local folder or an s3:// output, in that order (blocking: run it in a thread). The first
    failure stops the removal: the clips before it are removed, that one and the rest are not."""
    removed: list[str] = []
    store = S3Output(output) if isinstance(output, str) and s3.is_s3(output) else None
    for text in clip_ids:
        try:
            if store is not None:
                store.remove_clip(uuid.UUID(text))
            else:
                _remove_clip_files(Path(output), uuid.UUID(text))
        except OSError as exc:
            return Removal(removed, f"could not remove its outdated clip {text}: {exc}")
        removed.append(text)
    return Removal(removed)


def _remove_clip_files(output: Path, clip_id: uuid.UUID) -> None:
    for path in (clip_path(output, clip_id), meta_path(output, clip_id), frames_path(output, clip_id)):
        path.unlink(missing_ok=True)


def move_aside(source: Path, quarantine: Path, rel: str) -> Path:
    """Move a bad source to `quarantine/rel` (a free name beside it if taken); returns where."""
    target = quarantine / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        target = target.with_name(f"{stem}.{n}{suffix}")
        n += 1
    shutil.move(source, target)
    return target
