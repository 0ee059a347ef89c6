"""RayPipeline: the streaming pipeline spread over a Ray cluster, one pipeline per actor.

The driver keeps a bounded queue of submitted videos and hands each to a live worker holding
fewer than `max_videos_in_flight` videos: cluster-wide backpressure, since `submit` waits while
the queue is full. Each video's events come back through a Ray streaming generator and are passed
on as they arrive, so a clip reaches the caller as soon as its worker has written it.

Faults: when a worker dies (or its pipeline breaks, or it hangs: see `watchdog.py`) it is killed,
its work folder removed, and a new worker started in its place; its videos go back to the front
of the queue. Clips it finished are on the shared output already and are not encoded again (same
uuid, same clip), and the driver passes each clip's `ClipReady` on once. A video that has lost
`max_attempts` workers fails with that reason instead of being retried forever.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import ray
import ray.exceptions
from ray import cloudpickle

from streamclip.config import PipelineConfig, RayConfig
from streamclip.contract.identity import check_rel
from streamclip.contract.stats import PipelineStats, RayStats, WorkerInfo, combine
from streamclip.contract.types import ClipReady, Event, VideoFailed
from streamclip.errors import Reason, StreamclipError
from streamclip.ray.cluster import connect
from streamclip.ray.watchdog import watch
from streamclip.ray.worker import PipelineWorker
from streamclip.runtime.channel import Channel, ReceiverClosed
from streamclip.runtime.pipeline import until_end
from streamclip.stages.interface import Stage
from streamclip.stages.loading import import_factory
from streamclip.storage import remote, workspace

log = logging.getLogger("streamclip.ray")

WORKER_START_TIMEOUT_S = 300.0  # placing an actor, importing torch, opening the pipeline
WORKER_CLOSE_TIMEOUT_S = 30.0
WORKER_EXIT_WAIT_S = 10.0  # how long a killed worker of this machine is awaited before its leftovers go
STATS_EVERY_S = 1.0  # how often the workers' statistics are gathered
STATS_TIMEOUT_S = 5.0


class RayUnavailable(StreamclipError):
    """No worker could be started or none is left."""


@dataclass(eq=False)
class _Video:
    path: str
    rel: str
    attempts: int = 0
    clips: set[uuid.UUID] = field(default_factory=set)  # ClipReady already passed on
    last_error: str = ""
    given: str = ""  # the source as submitted, when it differs from `path` (a URL with its secrets)


@dataclass(eq=False)
class _Worker:
    index: int
    generation: int
    handle: Any
    info: dict[str, Any]
    in_flight: set[str] = field(default_factory=set)
    alive: bool = True
    last_active: float = field(default_factory=time.monotonic)  # an event, or progress (watchdog.py)
    last_progress: int | None = None
    waiting_on_consumer: int = 0  # its videos' events waiting for room in the driver's channel
    hung: str = ""  # why the watchdog killed it


class RayPipeline:
    """The Ray backend: `backend.EventPipeline` (submit, close_input, async for, statistics) on Ray actors."""

    def __init__(
        self,
        config: PipelineConfig,
        output_dir: Path | str | None,
        ray_config: RayConfig,
        stages: Sequence[Stage] = (),
    ) -> None:
        self.config = config
        self.stages = list(stages)  # pickled to each worker: every worker runs its own copy
        self.output_dir = output_dir
        self.ray_config = ray_config
        self.started_at = time.monotonic()
        self.events: Channel[Event] = Channel(config.channels.events, "events")
        self._actor_class: Any = ray.remote(PipelineWorker)  # handles are used untyped: Ray's stubs are partial
        self._workers: list[_Worker] = []
        self._waiting: collections.deque[_Video] = collections.deque()
        self._retries: collections.deque[_Video] = collections.deque()
        self._running: dict[str, _Video] = {}  # source path -> video, while it is on a worker
        self._replacing = 0
        self._input_closed = False
        self._wakeup = asyncio.Event()  # set on every change the dispatcher may act on
        self._room = asyncio.Event()  # set when the submit queue gets room
        self._tasks: set[asyncio.Task[None]] = set()
        self.runner: asyncio.Task[None] | None = None
        self.workers_replaced = 0
        self._lost_pids: set[int] = set()  # of the lost workers: their temporaries are swept again at close
        self.videos_retried = 0
        self._gathered: dict[tuple[int, int], PipelineStats] = {}  # (index, generation) -> its last figures

    # -- the Pipeline interface ---------------------------------------------------------------

    async def submit(self, path: str | os.PathLike[str], *, rel: str | None = None, follow: bool = False) -> None:
        """Queue a video (waits while `channels.jobs` videos wait for a worker)."""
        if follow:
            raise ValueError("following a growing file is not supported on Ray: run it on one machine")
        if self._input_closed:
            raise RuntimeError("submit after close_input()")
        given = os.fspath(path)
        source = remote.source_id(given)  # workers read an s3:// or http(s):// source themselves
        rel = check_rel(rel) if rel is not None else None
        while len(self._waiting) >= self.config.channels.jobs:
            self._room.clear()
            await self._room.wait()
        self._waiting.append(_Video(source, rel or remote.default_rel(source), given=given if given != source else ""))
        self._wakeup.set()

    def close_input(self) -> None:
        self._input_closed = True
        self._wakeup.set()

    def stop_live(self) -> None:
        """Nothing to stop: live sources are read on one machine, never submitted to Ray."""

    def __aiter__(self) -> AsyncIterator[Event]:
        return until_end(self.events, self.runner)  # the dispatcher's error, if it failed, at the end

    def statistics(self) -> PipelineStats:
        """The workers' pipelines summed (as last gathered, every `STATS_EVERY_S`; a lost worker's
        last figures stay in), the driver's events channel, and the driver's view in `ray`."""
        stats = combine(list(self._gathered.values()), elapsed_s=round(time.monotonic() - self.started_at, 3))
        ray_view = RayStats(
            workers=[
                WorkerInfo(
                    index=w.index,
                    generation=w.generation,
                    alive=w.alive,
                    pid=w.info.get("pid"),
                    host=w.info.get("host"),
                    in_flight=sorted(Path(p).name for p in w.in_flight),
                )
                for w in self._workers
            ],
            waiting=len(self._waiting),
            retrying=len(self._retries),
            workers_replaced=self.workers_replaced,
            videos_retried=self.videos_retried,
        )
        channels = {**stats.channels, "events": self.events.statistics()}
        return msgspec.structs.replace(stats, channels=channels, ray=ray_view)

    async def gather_statistics(self) -> PipelineStats:
        """Ask every live worker for its pipeline's statistics now, then `statistics()`."""
        live = [w for w in self._workers if w.alive]
        found = await asyncio.gather(
            *(asyncio.wait_for(w.handle.pipeline_statistics.remote(), STATS_TIMEOUT_S) for w in live),
            return_exceptions=True,
        )
        for worker, stats in zip(live, found, strict=True):
            if isinstance(stats, PipelineStats):
                self._gathered[(worker.index, worker.generation)] = stats
        return self.statistics()

    async def _keep_gathering(self) -> None:
        while True:
            await self.gather_statistics()
            await asyncio.sleep(STATS_EVERY_S)

    async def worker_statistics(self) -> list[dict[str, Any]]:
        """Each live worker's own statistics (its pipeline's, and what it measured itself)."""
        live = [w for w in self._workers if w.alive]
        return list(await asyncio.gather(*(w.handle.statistics.remote() for w in live)))

    def actor_handles(self) -> dict[int, Any]:
        """The live workers' Ray actor handles by worker index (to inspect them, or to kill one in a test)."""
        return {w.index: w.handle for w in self._workers if w.alive}

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        count = self.ray_config.actors or _actors_that_fit(self.config)
        started = await asyncio.gather(*(self._start_worker(i, 0) for i in range(count)), return_exceptions=True)
        self._workers = [w for w in started if isinstance(w, _Worker)]  # stopped by aclose() if one failed
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        self.runner = asyncio.create_task(self._dispatch(), name="streamclip-ray-dispatch")
        self._spawn(self._keep_gathering(), "streamclip-ray-statistics")
        if self.ray_config.hang_timeout_s > 0:
            watching = watch(lambda: self._workers, self.ray_config.hang_timeout_s)
            self._spawn(watching, "streamclip-ray-watchdog")

    async def aclose(self) -> None:
        """Stop dispatching, close every worker's pipeline (its ffmpeg children die with it), kill the actors."""
        if self.runner is not None:
            self.runner.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *([self.runner] if self.runner else []), return_exceptions=True)
        await asyncio.gather(*(self._stop_worker(w) for w in self._workers if w.alive))
        if isinstance(self.output_dir, Path):
            for pid in self._lost_pids:  # what a lost worker wrote after its first sweep
                await asyncio.to_thread(workspace.remove_temps_of, self.output_dir, pid)

    async def _start_worker(self, index: int, generation: int) -> _Worker:
        res = self.config.resources
        handle: Any = self._actor_class.options(
            num_cpus=res.cpus,
            num_gpus=res.gpus,
            max_restarts=0,  # the driver replaces a dead worker itself, knowing what it held
            name=f"streamclip-{os.getpid()}-{id(self):x}-{index}.{generation}",
        ).remote(self.config, str(self.output_dir) if self.output_dir is not None else None, self.stages)
        try:
            info = await asyncio.wait_for(handle.start.remote(), WORKER_START_TIMEOUT_S)
        except BaseException as exc:  # also cancelled while starting (closing): the actor must not outlive us
            ray.kill(handle, no_restart=True)
            if not isinstance(exc, TimeoutError | ray.exceptions.RayError):
                raise
            available = ray.available_resources()  # type: ignore[no-untyped-call]
            raise RayUnavailable(
                f"could not start a pipeline worker asking for {res.cpus:g} CPU and {res.gpus:g} GPU "
                f"(free in the cluster: {available.get('CPU', 0):g} CPU, {available.get('GPU', 0):g} GPU): "
                f"{_one_line(exc)}"
            ) from exc
        log.info("worker %d.%d started: pid %s on %s", index, generation, info["pid"], info["host"])
        return _Worker(index, generation, handle, info)

    async def _stop_worker(self, worker: _Worker) -> None:
        worker.alive = False
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.handle.close.remote(), WORKER_CLOSE_TIMEOUT_S)
        ray.kill(worker.handle, no_restart=True)

    # -- dispatch -----------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        try:
            while not self._finished():
                self._wakeup.clear()
                worker = self._free_worker()
                video = self._next_video() if worker is not None else None
                if worker is None or video is None:
                    if not any(w.alive for w in self._workers) and not self._replacing:
                        raise RayUnavailable("no Ray worker is left to run the remaining videos")
                    await self._wakeup.wait()
                    continue
                if not worker.in_flight:
                    worker.last_active = time.monotonic()  # idle time is not stillness
                worker.in_flight.add(video.path)
                self._running[video.path] = video
                self._spawn(self._run(video, worker), f"streamclip-ray-{video.rel}")
        except BaseException as exc:
            self.events.fail(exc if isinstance(exc, Exception) else RayUnavailable("the Ray driver was stopped"))
            raise
        self.events.close()

    def _finished(self) -> bool:
        return self._input_closed and not (self._waiting or self._retries or self._running)

    def _free_worker(self) -> _Worker | None:
        free = [w for w in self._workers if w.alive and len(w.in_flight) < self.ray_config.max_videos_in_flight]
        return min(free, key=lambda w: len(w.in_flight), default=None)

    def _next_video(self) -> _Video | None:
        """Retries first; then the oldest waiting video not already running (a path runs once at a time)."""
        if self._retries:
            return self._retries.popleft()
        for video in self._waiting:
            if video.path not in self._running:
                self._waiting.remove(video)
                self._room.set()
                return video
        return None

    async def _run(self, video: _Video, worker: _Worker) -> None:
        video.attempts += 1
        try:
            try:
                finished = await self._stream(video, worker)
            except ray.exceptions.RayError as exc:
                finished, video.last_error = False, worker.hung or _one_line(exc)
                if worker.alive:  # the first of its videos to notice replaces it, in the background
                    worker.alive = False
                    self._replacing += 1
                    self._spawn(self._replace(worker, video.last_error), f"streamclip-ray-replace-{worker.index}")
            finally:
                worker.in_flight.discard(video.path)
            if not finished:
                if video.attempts < self.ray_config.max_attempts:
                    log.warning("%s: worker lost (%s); running it again", video.path, video.last_error)
                    self.videos_retried += 1
                    self._retries.append(video)
                else:
                    await self.events.send(_given_up(video, time.monotonic() - self.started_at))
        except ReceiverClosed:
            return  # the consumer has gone: the pipeline is being closed
        finally:
            del self._running[video.path]
            self._wakeup.set()

    async def _stream(self, video: _Video, worker: _Worker) -> bool:
        """Pass the video's events on; True once its final event has been."""
        call = worker.handle.process.options(_generator_backpressure_num_objects=self.config.channels.events)
        async for ref in call.remote(video.given or video.path, video.rel):
            event: Event = await ref
            worker.last_active = time.monotonic()
            if isinstance(event, ClipReady):
                if event.clip.uuid in video.clips:
                    continue  # a worker before this one already passed it on
                video.clips.add(event.clip.uuid)
            worker.waiting_on_consumer += 1
            try:
                await self.events.send(event)
            finally:
                worker.waiting_on_consumer -= 1
                worker.last_active = time.monotonic()
            if not isinstance(event, ClipReady):
                return True
        video.last_error = "the worker ended the video without a final event"
        return False

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, worker: _Worker, reason: str) -> None:
        """Kill a dead or broken worker, remove its work folder, start another in its place.

        `_replacing` was counted up by the caller, so the dispatcher never sees a moment with no
        live worker and no replacement coming.
        """
        log.warning("worker %d.%d (pid %s) lost: %s", worker.index, worker.generation, worker.info["pid"], reason)
        try:
            ray.kill(worker.handle, no_restart=True)
            await asyncio.to_thread(remove_leftovers_of, self.output_dir, worker.info)
            self._lost_pids.add(int(worker.info["pid"]))
            try:
                replacement = await self._start_worker(worker.index, worker.generation + 1)
            except RayUnavailable as exc:
                log.error("worker %d not replaced: %s", worker.index, exc)
                return
            self._workers[worker.index] = replacement
            self.workers_replaced += 1
        finally:
            self._replacing -= 1
            self._wakeup.set()


def remove_leftovers_of(output_dir: Path | str | None, info: dict[str, Any]) -> None:
    """A killed worker cannot remove its work folder, nor a file it was writing under a temporary name
    (a record or a meta, killed before the rename); both sit in the shared output folder. Blocking.

    A kill through Ray lands asynchronously: the driver hears that the actor died while its process may
    still be finishing a write. On this machine the process's end is awaited first; a worker of another
    machine is swept again when the pipeline closes (`RayPipeline.aclose`)."""
    folder = Path(info["workspace"])
    if output_dir is None or folder.parent != output_dir or not folder.is_dir():
        return
    if info.get("host") == socket.gethostname():
        _wait_for_exit(int(info["pid"]), WORKER_EXIT_WAIT_S)
    shutil.rmtree(folder, ignore_errors=True)
    workspace.remove_temps_of(Path(output_dir), int(info["pid"]))


def _wait_for_exit(pid: int, timeout_s: float) -> None:
    """Until the process `pid` of this machine is gone, `timeout_s` at most (then its leftovers wait
    for the sweep at close)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:  # gone (or the pid is no longer ours to signal)
            return
        time.sleep(0.05)


def _given_up(video: _Video, elapsed_s: float) -> VideoFailed:
    return VideoFailed(
        source=video.path,
        reason=(
            f"its worker died {video.attempts} time(s) while processing it; not retried again "
            f"(last: {video.last_error})"
        ),
        num_clips=len(video.clips),
        elapsed_s=elapsed_s,
        error_type="WorkerLost",
        kind=Reason.WORKER_LOST,
    )


def _actors_that_fit(config: PipelineConfig) -> int:
    """As many pipelines as the cluster's CPUs (and GPUs, if the profile asks for some) hold."""
    total = ray.cluster_resources()  # type: ignore[no-untyped-call]
    res = config.resources
    count = int(total.get("CPU", 0) // res.cpus)
    if res.gpus > 0:
        count = min(count, int(total.get("GPU", 0) // res.gpus))
    return max(count, 1)


def check_picklable(stages: Sequence[Stage]) -> None:
    """Stage objects travel to the workers pickled (cloudpickle): say which one cannot, and what to do."""
    for stage in stages:
        try:
            cloudpickle.dumps(stage)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise TypeError(
                f"stage {getattr(stage, 'name', stage)!r} cannot be sent to Ray workers ({type(exc).__name__}: "
                f"{exc}): make it picklable (open models and files in process(), not __init__), or name its "
                "factory in the config ([[stages]] use = 'package.module:Factory') so each worker builds its own"
            ) from exc


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@contextlib.asynccontextmanager
async def open_ray_pipeline(
    config: PipelineConfig, output_dir: Path | str | None, ray_config: RayConfig, stages: Sequence[Stage] = ()
) -> AsyncIterator[RayPipeline]:
    """Start the workers, yield the pipeline, then stop them (and Ray, if this started it).

    An `s3://` output is written by the workers straight to the bucket: nothing is shared but the URL.
    Curation stages run on the workers: those of the config are imported there by their path
    (checked here first), `stages` objects are pickled to each worker (each runs its own copy)."""
    for entry in config.stages:
        import_factory(entry.use)  # a typo fails here, not as a worker that does not start
    check_picklable(stages)
    started_ray = connect(ray_config)
    out = output_dir.resolve() if isinstance(output_dir, Path) else output_dir
    pipe = RayPipeline(config, out, ray_config, stages)
    try:
        await pipe.start()
        yield pipe
    finally:
        try:
            await pipe.aclose()
        finally:
            if started_ray:
                ray.shutdown()
