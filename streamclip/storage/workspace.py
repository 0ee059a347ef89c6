"""Where clips live while they are made, and the atomic moves that put finished files in place.

Work files sit in a hidden folder inside the output folder (same filesystem, so the final move is
an atomic rename) or in a temporary folder when there is no output folder or it is an S3 prefix. The folder is removed
when the pipeline closes, so a cancelled run leaves nothing half-written behind.

Durability: a file's data is fsynced before it is renamed into place and its folder after, so a
power cut leaves either the old state or the whole new file, never a named but empty one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path


class Workspace:
    def __init__(self, output_dir: Path | None) -> None:
        self.output_dir = output_dir
        parent = None
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            parent = str(output_dir)
        self.root = Path(tempfile.mkdtemp(prefix=".streamclip-work-", dir=parent))

    def scratch(self, suffix: str) -> str:
        return str(self.root / f"{uuid.uuid4().hex}{suffix}")

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def temp_name(path: Path) -> Path:
    """The temporary name a finished file is written under beside `path`, before its rename.

    It carries the writer's pid: a writer killed between the write and the rename (a Ray worker
    killed mid-video) cannot remove its own, and `remove_temps_of` lets whoever saw it die do so."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def remove_temps_of(folder: Path, pid: int) -> list[Path]:
    """Remove the temporary files that the dead process `pid` left under `folder`; the removed."""
    removed = []
    for tmp in folder.rglob(f".*.{pid}-*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name beside `path`, fsync, rename over it, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def move_atomic(src: str, path: Path, *, synced: bool = False) -> None:
    """Move a finished work file into place (fsync unless `synced`, a rename within one filesystem,
    fsync the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not synced:
        fsync_file(src)
    try:
        os.replace(src, path)
    except OSError:  # another filesystem: copy beside the target, then rename
        tmp = temp_name(path)
        try:
            shutil.copyfile(src, tmp)
            fsync_file(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            Path(src).unlink(missing_ok=True)
    fsync_folder(path.parent)


def fsync_file(path: str | Path) -> None:
    """Flush a written file's data to the disk (ffmpeg closes its output without fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable (its entries are data of the folder itself)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
