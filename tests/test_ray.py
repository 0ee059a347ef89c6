"""streamclip on Ray: a local Ray runtime on loopback, two pipeline actors, real videos and weights.

The videos are small (three 2 s scenes at 12.5 fps: the span rules are in seconds) and the clips
short (1 s minimum, 0.25 s crop), so that two one-thread workers get through them quickly; a clip
comes out of each scene, so a video is well under way at its first clip, with two scenes still to come.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import media
import psutil
import pytest
from processes import ffmpeg_children_mentioning, leftovers, running, states, wait_until

import streamclip
from streamclip.config import PipelineConfig, RayConfig, ResourcesConfig, load_config
from streamclip.contract.stats import PipelineStats, RayStats
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed
from streamclip.errors import ConfigError
from streamclip.ingest.config import load_serve_config

ray = pytest.importorskip("ray")

SOURCES = ["testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "cellauto", "color=c=red"]
SETTINGS = ["resources.cpus=1", "spans.min_length_s=1.0", "spans.crop_s=0.25"]
SCENES_PER_VIDEO, SCENE_S, FPS = 3, 2.0, 12.5


def scenes(offset: int) -> list[tuple[str, float]]:
    return [(SOURCES[(offset + i) % len(SOURCES)], SCENE_S) for i in range(SCENES_PER_VIDEO)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("ray_videos")
    return [media.make_cut_video(folder / f"video {i}.mp4", scenes=scenes(i), fps=FPS).path for i in range(3)]


@pytest.fixture(scope="module")
def single_machine_ids(videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Clip ids per source from the ordinary, single-process pipeline: what Ray must reproduce."""
    events = asyncio.run(streamclip.split(videos, tmp_path_factory.mktemp("local_out"), config()))
    ids = by_source(events)
    assert all(isinstance(e, VideoDone | ClipReady) for e in events)
    assert set(ids) == {str(v) for v in videos}
    assert all(len(found) == SCENES_PER_VIDEO for found in ids.values()), "a clip per scene"
    return ids


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    """One local Ray runtime for the in-process tests (each pipeline opened on it joins it)."""
    from streamclip.ray.cluster import LOCAL_RUNTIME_CONFIG  # after the skip without Ray

    ray.init(
        num_cpus=3,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        namespace="streamclip-tests",
        _system_config=LOCAL_RUNTIME_CONFIG,  # as `--ray local` starts one
    )
    try:
        yield
    finally:
        ray.shutdown()


def config(*overrides: str) -> PipelineConfig:
    return load_config("default", [*SETTINGS, *overrides])


def clip_ids(events: list[Event]) -> list[str]:
    return [str(e.clip.uuid) for e in events if isinstance(e, ClipReady)]


def by_source(events: list[Event]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in events:
        if isinstance(event, ClipReady):
            found.setdefault(event.clip.source, set()).add(str(event.clip.uuid))
    return found


def niceness_of(processes: list[psutil.Process]) -> dict[str, int]:
    """Each process's title (its command line; Ray titles an actor's process `ray::Class...`) and niceness."""
    found = {}
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            found[f"{' '.join(process.cmdline())} ({process.pid})"] = process.nice()
    return found


def ray_view(pipe: Any) -> RayStats:
    stats = pipe.statistics().ray
    assert stats is not None
    return stats


def final_events(events: list[Event]) -> Counter[tuple[str, str]]:
    return Counter((type(e).__name__, e.source) for e in events if isinstance(e, VideoDone | VideoFailed))


# ---------------------------------------------------------------------------------------------
# The CLI (its own local Ray runtime, started and stopped by `streamclip split --ray local`)


def test_split_folder_with_ray_local_gives_the_single_machine_clip_ids(
    videos: list[Path], single_machine_ids: dict[str, set[str]], tmp_path: Path
) -> None:
    """With a curation stage named by import path in the profile: the workers import and run it."""
    out = tmp_path / "out"
    profile = tmp_path / "with_a_stage.toml"  # the default profile's settings, plus the example stage
    profile.write_text('[[stages]]\nuse = "brightness_stage:MeanBrightness"\n[stages.settings]\nmin_brightness = 0.0\n')
    argv = [sys.executable, "-m", "streamclip", "split", str(videos[0].parent), "-o", str(out),
            "--ray", "local", "--ray-actors", "2", "--events", "jsonl", "--no-progress", "--profile", str(profile),
            *(arg for o in SETTINGS for arg in ("--set", o))]  # fmt: skip
    examples = str(Path(__file__).parent.parent / "examples")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [examples, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=420, check=False, env=env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    clips: dict[str, set[str]] = {}
    for record in records:
        if record["event"] == "clip":
            clips.setdefault(record["source"], set()).add(record["uuid"])
            assert record["fields"]["mean_brightness"] > 0  # scored on a worker, carried by the event
    assert clips == single_machine_ids
    assert sorted(r["source"] for r in records if r["event"] == "video_done") == sorted(map(str, videos))
    on_disk = {p.stem for p in (out / "clips").glob("*.mp4")}
    assert on_disk == set().union(*single_machine_ids.values())
    assert len(list((out / "processed_videos").glob("*.json"))) == len(videos)
    assert leftovers(out) == []


def test_serve_with_a_ray_table_processes_files_and_drains_on_sigterm(videos: list[Path], tmp_path: Path) -> None:
    """`ray.init` installs handlers that end the process at once on SIGTERM: the daemon's drain must win."""
    (tmp_path / "in").mkdir()
    shutil.copy(videos[0], tmp_path / "in" / "a.mp4")
    config = tmp_path / "serve.toml"
    config.write_text(
        f'watch = ["in"]\noutput = "out"\nmetrics_address = ""\nsettle_s = 0.3\nset = {json.dumps(SETTINGS)}\n'
        '[ray]\naddress = "local"\nactors = 1\n'
    )
    out = tmp_path / "out"
    with running(["serve", "--config", str(config)], tmp_path, tmp_path / "serve.log") as daemon:
        wait_until(lambda: states(out) == {"a.mp4": "done"}, "the video to be done", daemon, timeout_s=240)
        family = psutil.Process(daemon.proc.pid).children(recursive=True)  # Ray's processes and workers
        priorities = niceness_of(family)
        status, _ = daemon.stop(signal.SIGTERM, timeout_s=60)
    # The runtime the daemon started runs its workers (and their ffmpeg children) at the daemon's own
    # priority, not at Ray's default niceness of 15, which yields to everything else on the machine.
    assert any(title.startswith("ray::") for title in priorities), priorities
    assert set(priorities.values()) == {psutil.Process().nice()}, priorities
    assert status == 0, daemon.stderr
    assert "SIGTERM: no new files" in daemon.stderr
    assert len(list((out / "clips").glob("*.mp4"))) == SCENES_PER_VIDEO
    _, alive = psutil.wait_procs(family, timeout=30)
    assert alive == [], "Ray's processes outlived the daemon that started them"
    assert leftovers(out) == []


# ---------------------------------------------------------------------------------------------
# The async API on a shared local Ray runtime


async def test_the_bound_on_videos_in_flight_holds_on_every_actor(
    ray_runtime: None, videos: list[Path], single_machine_ids: dict[str, set[str]], tmp_path: Path
) -> None:
    events: list[Event] = []
    driver_seen = 0
    ray_config = RayConfig(actors=2, max_videos_in_flight=2)
    async with streamclip.open_pipeline(config(), tmp_path, ray=ray_config) as pipe:
        for video in videos:
            await pipe.submit(video)
        pipe.close_input()
        async for event in pipe:
            events.append(event)
            workers = ray_view(pipe).workers
            driver_seen = max(driver_seen, *(len(w.in_flight) for w in workers))
        measured = await pipe.worker_statistics()
        gathered = await pipe.gather_statistics()
    assert by_source(events) == single_machine_ids
    assert final_events(events) == Counter(("VideoDone", str(v)) for v in videos)
    # The driver's statistics are the workers' figures, summed: the same type as on one machine.
    assert isinstance(gathered, PipelineStats)
    assert gathered.decoder is not None
    assert gathered.detector is not None
    assert gathered.decoder.frames_decoded == len(videos) * SCENES_PER_VIDEO * round(SCENE_S * FPS)
    assert gathered.detector.windows > 0
    assert gathered.detector.batches > 0
    assert gathered.transcoder.encoded == sum(len(ids) for ids in single_machine_ids.values())
    # Measured inside each worker, independently of the driver's own accounting.
    assert sorted(w["videos_started"] for w in measured) == [1, 2]
    assert max(w["max_in_flight"] for w in measured) == 2  # the bound is used ...
    assert all(w["max_in_flight"] <= 2 for w in measured)  # ... and never exceeded
    assert driver_seen <= 2


async def test_a_killed_actor_loses_no_video_and_writes_no_clip_twice(
    ray_runtime: None, videos: list[Path], single_machine_ids: dict[str, set[str]], tmp_path: Path
) -> None:
    events: list[Event] = []
    written: dict[str, int] = {}  # clip id -> mtime when its ClipReady arrived
    killed: str | None = None
    async with streamclip.open_pipeline(config(), tmp_path, ray=RayConfig(actors=2, max_videos_in_flight=1)) as pipe:
        for video in videos:
            await pipe.submit(video)
        pipe.close_input()
        async for event in pipe:
            events.append(event)
            if isinstance(event, ClipReady):
                assert event.clip.path is not None
                written[str(event.clip.uuid)] = Path(event.clip.path).stat().st_mtime_ns
                if killed is None:  # its first clip: the video is well under way on that worker
                    killed = event.clip.source
                    holder = next(w for w in ray_view(pipe).workers if Path(killed).name in w.in_flight)
                    ray.kill(pipe.actor_handles()[holder.index])
        stats = ray_view(pipe)
    assert killed is not None
    assert stats.workers_replaced == 1
    assert stats.videos_retried == 1
    assert final_events(events) == Counter(("VideoDone", str(v)) for v in videos)  # each once, none failed
    ids = clip_ids(events)
    assert len(ids) == len(set(ids)), "a clip was reported twice"
    assert by_source(events) == single_machine_ids
    assert {p.stem for p in (tmp_path / "clips").glob("*.mp4")} == set(ids)
    for clip_id, mtime_ns in written.items():  # not one clip was written again by the retry
        assert (tmp_path / "clips" / f"{clip_id}.mp4").stat().st_mtime_ns == mtime_ns
    assert leftovers(tmp_path) == []
    assert ffmpeg_children_mentioning(tmp_path) == []


async def test_a_hung_worker_is_killed_and_its_video_runs_again(
    ray_runtime: None, videos: list[Path], tmp_path: Path
) -> None:
    """Hung by construction: the worker's process is stopped (SIGSTOP) before it gets the video, so
    it can yield no event and make no progress; the watchdog must kill it and run the video again."""
    # Fixed stride: its progress (clips encoded into work files) never pauses for a forward pass,
    # so a short timeout cannot mistake a slow but moving worker, on a loaded machine, for a hung one.
    ray_config = RayConfig(actors=1, max_videos_in_flight=1, hang_timeout_s=5.0)
    stride = load_config("fixed-stride", ["resources.cpus=1", "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0"])
    async with streamclip.open_pipeline(stride, tmp_path, ray=ray_config) as pipe:
        stopped = psutil.Process(ray_view(pipe).workers[0].pid)
        stopped.suspend()
        try:
            await pipe.submit(videos[0])
            pipe.close_input()
            events = [event async for event in pipe]
            # killed while stopped (Ray's force-kill), not merely abandoned
            _, still_there = await asyncio.to_thread(psutil.wait_procs, [stopped], 60)
        finally:
            with contextlib.suppress(psutil.NoSuchProcess):
                stopped.resume()
        stats = ray_view(pipe)
    assert still_there == []
    assert stats.workers_replaced == 1
    assert stats.videos_retried == 1
    assert final_events(events) == Counter([("VideoDone", str(videos[0]))])
    ids = clip_ids(events)
    assert len(ids) == len(set(ids)) == SCENES_PER_VIDEO  # in 2-s clips (the scenes' length), each once


async def test_a_poison_file_fails_once_with_its_reason_and_the_others_finish(
    ray_runtime: None, videos: list[Path], tmp_path: Path
) -> None:
    """Two kinds: a file that is not a video, and a video that kills every worker it is given to."""
    not_a_video = media.make_text(tmp_path / "notes.mp4")
    killer, good = videos[0], videos[1:3]
    events: list[Event] = []
    kills: list[int] = []

    async def kill_whoever_holds_the_killer(pipe: Any) -> None:
        while True:
            for worker in ray_view(pipe).workers:
                if killer.name in worker.in_flight and worker.alive:
                    handle = pipe.actor_handles().get(worker.index)
                    if handle is not None and worker.pid is not None and worker.pid not in kills:
                        kills.append(worker.pid)
                        ray.kill(handle)
            await asyncio.sleep(0.1)

    ray_config = RayConfig(actors=2, max_videos_in_flight=1, max_attempts=2)
    async with streamclip.open_pipeline(config(), tmp_path / "out", ray=ray_config) as pipe:
        assassin = asyncio.create_task(kill_whoever_holds_the_killer(pipe))
        for video in [killer, not_a_video, *good]:
            await pipe.submit(video)
        pipe.close_input()
        events = [event async for event in pipe]
        assassin.cancel()
    finals = final_events(events)
    assert finals == Counter(
        [("VideoFailed", str(killer)), ("VideoFailed", str(not_a_video)), *(("VideoDone", str(v)) for v in good)]
    )
    failed = {e.source: e for e in events if isinstance(e, VideoFailed)}
    assert failed[str(killer)].error_type == "WorkerLost"
    assert "died 2 time(s)" in failed[str(killer)].reason
    assert len(kills) == 2, "tried exactly max_attempts times"
    assert failed[str(not_a_video)].error_type == "SourceError"  # a bad file is not a dead worker:
    assert "worker" not in failed[str(not_a_video)].reason  # one try, its own reason
    assert leftovers(tmp_path / "out") == []


def test_a_lost_workers_write_after_ray_reported_it_dead_is_removed_once_its_process_is_gone(tmp_path: Path) -> None:
    """Ray reports an actor dead while its process may still be finishing a write: the record it writes
    in that moment, under its temporary name, must not stay in the output (seen once in the poison test).
    Here the 'worker' writes only after the sweep has started, and ends right after."""
    from streamclip.ray.driver import remove_leftovers_of

    out = tmp_path / "out"
    records, work = out / "processed_videos", out / ".streamclip-work-lost"
    records.mkdir(parents=True)
    work.mkdir()
    late_write = "import os, sys; sys.stdin.readline(); open(f'{sys.argv[1]}/.v.json.{os.getpid()}-0123abcd.tmp', 'w')"
    worker = subprocess.Popen([sys.executable, "-c", late_write, str(records)], stdin=subprocess.PIPE, text=True)
    info = {"pid": worker.pid, "host": socket.gethostname(), "workspace": str(work)}
    sweep = threading.Thread(target=remove_leftovers_of, args=(out, info))
    sweep.start()
    assert worker.stdin is not None
    worker.stdin.write("write now\n")
    worker.stdin.close()
    assert worker.wait(timeout=60) == 0
    sweep.join(timeout=60)
    assert not sweep.is_alive()
    assert leftovers(out) == []
    assert not work.exists()


# ---------------------------------------------------------------------------------------------
# Configuration


def test_ray_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_videos_in_flight"):
        RayConfig(max_videos_in_flight=0)
    with pytest.raises(ValueError, match="address"):
        RayConfig(address="")


def test_serve_config_takes_a_ray_table(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('watch = ["in"]\noutput = "out"\n[ray]\naddress = "auto"\nactors = 3\n')
    assert load_serve_config(path).ray == RayConfig(address="auto", actors=3)
    path.write_text('watch = ["in"]\noutput = "out"\n[ray]\nactor = 3\n')
    with pytest.raises(ConfigError, match=r"unknown key ray\.actor"):
        load_serve_config(path)


def test_profiles_say_what_a_pipeline_asks_of_a_machine() -> None:
    assert load_config("default").resources == ResourcesConfig(cpus=2.0, gpus=0.0)
    assert load_config("nvidia").resources.gpus == 1.0
    with pytest.raises(ConfigError, match=r"resources\.cpus"):
        load_config("default", ["resources.cpus=0"])


class _HoldsALock:
    """A stage holding what pickle refuses (a lock): it cannot travel to a worker."""

    name, concurrency, drop_counter = "holds_a_lock", 1, None

    def __init__(self) -> None:
        self.lock = threading.Lock()

    async def process(self, item: streamclip.StageInput) -> streamclip.StageOutput:
        return streamclip.StageOutput()

    async def close(self) -> None:
        pass


async def test_a_stage_object_that_cannot_be_pickled_is_refused_before_ray_starts() -> None:
    with pytest.raises(TypeError, match="'holds_a_lock' cannot be sent to Ray workers"):
        async with streamclip.open_pipeline(config(), None, ray="local", stages=[_HoldsALock()]):
            pass
