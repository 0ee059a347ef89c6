"""Detector engines and the model cache: OpenVINO from a cached model, prepared once, atomically."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import media
import numpy as np
import pytest

from streamclip.detector import models
from streamclip.detector.engines import OpenVINOEngine, load_engine
from streamclip.detector.network import DetectorSettings
from streamclip.errors import ModelError


def test_the_cache_folder_is_the_config_key_then_the_variable_then_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMCLIP_CACHE_DIR", str(tmp_path / "env"))
    assert models.cache_root(str(tmp_path / "key")) == tmp_path / "key"
    assert models.cache_root() == tmp_path / "env"
    monkeypatch.delenv("STREAMCLIP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_root() == tmp_path / "xdg" / "streamclip"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert models.cache_root() == Path.home() / ".cache" / "streamclip"


def test_the_key_names_the_weights_the_versions_and_the_kind() -> None:
    fp32, int8 = models.model_key("fp32"), models.model_key("int8")
    assert models.weights_sha256()[:16] in fp32
    assert "ov" in fp32
    assert "torch" in fp32
    assert fp32.endswith(f"fp32-f{models.FORMAT}")
    assert "nncf" in int8
    assert "nncf" not in fp32
    assert models.model_kind("bf16") == "fp32"  # bf16 is OpenVINO's inference precision on the fp32 model


def test_a_cached_model_runs_one_window_or_a_batch_alike(prepared_models: dict[str, models.CachedModel]) -> None:
    engine = OpenVINOEngine(str(prepared_models["int8"].xml), "int8", threads=1)
    windows = np.random.default_rng(3).integers(0, 256, (3, 100, 27, 48, 3), dtype=np.uint8)
    batch = engine.predict_windows(windows)
    assert batch.shape == (3, 50)
    assert batch.dtype == np.float32
    assert ((batch >= 0) & (batch <= 1)).all()
    np.testing.assert_array_equal(engine.predict_windows(windows[1:2])[0], batch[1])
    with pytest.raises(ValueError, match=r"\[B, 100, 27, 48, 3\]"):
        engine.predict_windows(windows[:, :50])


def test_an_impossible_combination_is_refused_when_loading_too() -> None:
    with pytest.raises(ModelError, match="int8"):
        load_engine(DetectorSettings(engine="torch", precision="int8"))


def test_two_processes_preparing_at_once_make_one_model_and_a_dead_writers_leftovers_go(
    tmp_path: Path, prepared_models: dict[str, models.CachedModel]
) -> None:
    models_dir = tmp_path / "models"
    stale = models_dir / f".tmp-{models.model_key('fp32')}-999999"  # a preparer killed half-way
    stale.mkdir(parents=True)
    (stale / "model.xml").write_text("<half")
    argv = [
        sys.executable,
        "-m",
        "streamclip",
        "models",
        "prepare",
        "--precision",
        "fp32",
        "--cache-dir",
        str(tmp_path),
    ]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [proc.communicate(timeout=240) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    assert sorted(p.name for p in models_dir.iterdir() if not p.name.endswith(".lock")) == [models.model_key("fp32")]
    made, run_s = models_dir / models.model_key("fp32"), prepared_models["fp32"].folder
    for name in (models.MODEL_XML, models.MODEL_BIN):  # the export is deterministic: the run's own, byte for byte
        assert (made / name).read_bytes() == (run_s / name).read_bytes(), name
    listed = subprocess.run(
        [sys.executable, "-m", "streamclip", "models", "--cache-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert models.model_key("fp32") in listed.stdout
    assert "MiB" in listed.stdout


class PreparedAgain(NamedTuple):
    model: models.CachedModel
    models_dir: Path
    log: list[tuple[str, str]]  # ("fsync" | "rename", path relative to models_dir), in order


@pytest.fixture(scope="module")
def int8_prepared_again(
    tmp_path_factory: pytest.TempPathFactory, prepared_models: dict[str, models.CachedModel]
) -> PreparedAgain:
    """The int8 model prepared once more in a cache of its own, every fsync and rename into the models
    folder recorded: one preparation (the costliest, ~25 CPU-s) for the determinism and durability tests.
    The cache holds a copy of the run's fp32 model, which int8 is quantised from (the fp32 export's own
    determinism is checked by the two-process test, which makes it afresh)."""
    cache = tmp_path_factory.mktemp("again")
    models_dir = cache / "models"
    fp32 = prepared_models["fp32"]
    shutil.copytree(fp32.folder, models_dir / fp32.key)
    log: list[tuple[str, str]] = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd: int) -> None:
        where = os.readlink(f"/proc/self/fd/{fd}")
        if where.startswith(str(models_dir)):
            log.append(("fsync", os.path.relpath(where, models_dir)))
        real_fsync(fd)

    def renamed(real: Callable[[str, str], None]) -> Callable[[str | os.PathLike[str], str | os.PathLike[str]], None]:
        def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
            if str(dst).startswith(str(models_dir)):
                log.append(("rename", os.path.relpath(dst, models_dir)))
            real(os.fspath(src), os.fspath(dst))

        return rename

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        patch.setattr(os, "rename", renamed(real_rename))
        patch.setattr(os, "replace", renamed(real_replace))
        model = models.prepare("int8", str(cache))
    return PreparedAgain(model, models_dir, log)


def test_a_prepared_model_is_on_disk_before_its_folder_is_renamed_into_place(
    int8_prepared_again: PreparedAgain,
) -> None:
    """Every file of the model is fsynced, then its folder, before the rename that makes it the cached
    model, and the models folder after it: a power cut never leaves a named model with empty files
    (read as cached, it would fail every later start)."""
    log, key = int8_prepared_again.log, int8_prepared_again.model.key
    assert ("rename", key) in log
    at = log.index(("rename", key))
    work = {os.path.dirname(name) for kind, name in log[:at] if kind == "fsync" and os.path.dirname(name)}
    assert len(work) == 1  # the work folder, whose files were synced
    (folder,) = work
    synced = [name for kind, name in log[:at] if kind == "fsync"]
    for name in (models.MODEL_XML, models.MODEL_BIN, models.INFO):
        assert f"{folder}/{name}" in synced
    assert synced[-1] == folder  # the folder's entries, after its files
    assert ("fsync", ".") in log[at + 1 :]  # the rename itself


def test_int8_preparation_is_deterministic(
    prepared_models: dict[str, models.CachedModel], int8_prepared_again: PreparedAgain
) -> None:
    again = int8_prepared_again.model
    first = prepared_models["int8"]
    assert again.folder != first.folder
    for name in (models.MODEL_XML, models.MODEL_BIN):
        assert (again.folder / name).read_bytes() == (first.folder / name).read_bytes(), name
    info = json.loads((again.folder / models.INFO).read_text())
    assert info["kind"] == "int8"
    assert "synthesised" in info["calibration"]
    assert info["quantised_from"] == first.info["quantised_from"] == models.model_key("fp32")  # no export of its own


# A CPU pipeline on OpenVINO with a warm cache: the default (fp32) and fast-cpu (int8) profiles.
_NO_TORCH = """
import asyncio, sys
import streamclip
config = streamclip.load_config(sys.argv[1], ["frames.enabled=false"])
events = asyncio.run(streamclip.split([sys.argv[2]], sys.argv[3], config))
clips = sum(isinstance(e, streamclip.ClipReady) for e in events)
print(clips, "torch" in sys.modules, "nncf" in sys.modules)
"""


@pytest.fixture(scope="module")
def two_scenes(tmp_path_factory: pytest.TempPathFactory) -> media.CutVideo:
    """Two 3-s scenes (150 frames): a clip each, all a split needs to load and run every part."""
    folder = tmp_path_factory.mktemp("two_scenes")
    return media.make_cut_video(folder / "two_scenes.mp4", scenes=[("testsrc2", 3.0), ("mandelbrot", 3.0)])


@pytest.mark.parametrize("profile", ["default", "fast-cpu"])
def test_a_cpu_pipeline_on_openvino_never_imports_torch(
    profile: str, prepared_models: dict[str, models.CachedModel], two_scenes: media.CutVideo, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, profile, str(two_scenes.path), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=180, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    clips, torch_imported, nncf_imported = done.stdout.split()
    assert int(clips) > 0
    assert (torch_imported, nncf_imported) == ("False", "False")


def test_models_lists_nothing_in_an_empty_cache_and_says_how_to_prepare(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "streamclip", "models", "--cache-dir", str(tmp_path / "empty")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "no prepared models" in listed.stdout
    assert "streamclip models prepare" in listed.stdout
    assert not (tmp_path / "empty").exists()  # listing creates nothing


def test_openvino_takes_ray_s_omp_num_threads_when_no_thread_count_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamclip.detector.engines import _openvino_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert (_openvino_threads(0), _openvino_threads(1)) == (3, 1)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _openvino_threads(0) == 0  # OpenVINO's own choice: every core


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to tell a pinned thread from a free one")
def test_an_engine_on_fewer_threads_than_cores_never_pins_its_thread(
    prepared_models: dict[str, models.CachedModel],
) -> None:
    """While it inferred, OpenVINO pinned a one-thread engine's thread to the first core: every Ray actor
    and test worker (one thread each) shared CPU 0 while the other cores sat idle. The thread's CPUs are
    read from another thread for as long as three windows run."""
    engine = OpenVINOEngine(str(prepared_models["fp32"].xml), "fp32", threads=1)
    started = threading.Event()
    native_id: list[int] = []

    def infer() -> None:
        native_id.append(threading.get_native_id())
        started.set()
        for _ in range(3):
            engine.predict_windows(np.zeros((1, 100, 27, 48, 3), np.uint8))

    thread = threading.Thread(target=infer)
    thread.start()
    started.wait()
    seen: set[frozenset[int]] = set()
    while thread.is_alive():
        with contextlib.suppress(ProcessLookupError):  # the thread has just ended
            seen.add(frozenset(os.sched_getaffinity(native_id[0])))
        thread.join(0.002)
    assert seen == {frozenset(os.sched_getaffinity(0))}
