"""The hung-worker watchdog: a Ray worker holding videos whose pipeline has stopped moving is lost.

A worker is moving while any of its videos yields an event, or its pipeline's progress figure
(`PipelineWorker.progress`: items through its channels — decoder chunks, detector windows, spans,
clips — plus the bytes of its work files, which grow while an encoder or frame extractor writes)
changes between two looks. A worker that answers no look counts as still. One that stays still
for `hang_timeout_s` while it holds videos is killed; its videos' streams then fail as a dead
worker's do, and the driver replaces it and runs them again. A worker waiting on the driver's own
consumer (the events channel full) is not hung: that wait is backpressure. `hang_timeout_s` must
exceed the longest step that moves nothing visible (one detector forward pass on a loaded CPU).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import ray

log = logging.getLogger("streamclip.ray")


class Watched(Protocol):
    index: int
    generation: int
    handle: Any
    info: dict[str, Any]
    in_flight: set[str]
    alive: bool
    last_active: float
    last_progress: int | None
    waiting_on_consumer: int
    hung: str


def look_interval_s(hang_timeout_s: float) -> float:
    return max(min(hang_timeout_s / 4, 5.0), 0.05)


async def watch(workers: Callable[[], Iterable[Watched]], hang_timeout_s: float) -> None:
    """Run until cancelled: look at every busy worker each interval, kill the hung ones."""
    interval = look_interval_s(hang_timeout_s)
    while True:
        await asyncio.sleep(interval)
        busy = [w for w in workers() if w.alive and w.in_flight and not w.hung]
        await asyncio.gather(*(_look(w, hang_timeout_s) for w in busy))


async def _look(worker: Watched, hang_timeout_s: float) -> None:
    if worker.waiting_on_consumer:
        worker.last_active = time.monotonic()
        return
    try:
        # a busy machine may answer slowly; no answer within the whole timeout is stillness
        progress: int = await asyncio.wait_for(worker.handle.progress.remote(), hang_timeout_s)
    except (TimeoutError, ray.exceptions.RayError):
        progress = -1  # no answer: still (a dead worker's streams fail on their own)
    now = time.monotonic()
    if progress >= 0 and progress != worker.last_progress:
        worker.last_progress, worker.last_active = progress, now
        return
    still_s = now - worker.last_active
    if still_s >= hang_timeout_s and worker.alive and worker.in_flight:
        worker.hung = f"hung: no event and no progress for {still_s:.0f} s (ray.hang_timeout_s = {hang_timeout_s:g})"
        log.warning("worker %d.%d (pid %s) %s; killing it", worker.index, worker.generation, worker.info["pid"],
                    worker.hung)  # fmt: skip
        ray.kill(worker.handle, no_restart=True)
