"""Where clips live while they are made, and the atomic moves that put finished files in place.

Work files sit in a hidden folder inside the output folder (same filesystem, so the final move is
an atomic rename) or in a temporary folder when there is no output folder. The folder is removed
when the pipeline closes, so a cancelled run leaves nothing half-written behind.
"""

from __future__ import annotations

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name beside `path`, flush, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def move_atomic(src: str, path: Path) -> None:
    """Move a finished work file into place (a rename within one filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, path)
    except OSError:  # another filesystem: copy beside the target, then rename
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            Path(src).unlink(missing_ok=True)
