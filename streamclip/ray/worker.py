"""PipelineWorker: one streaming pipeline inside a Ray actor; each video's events streamed back.

The actor keeps one `open_pipeline` open for its whole life (model loaded once, videos share the
detector's batches as on one machine). `process(path)` is a Ray streaming generator: it submits
the video and yields that video's events the moment the pipeline emits them, ending with its
`VideoDone` or `VideoFailed`. One router task reads the pipeline's single event stream and hands
each event to the generator of its video.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

from streamclip.config import PipelineConfig
from streamclip.contract.stats import PipelineStats
from streamclip.contract.types import ClipReady, Event
from streamclip.local import Pipeline, open_local_pipeline
from streamclip.stages.interface import Stage
from streamclip.storage import remote
from streamclip.storage.outputs import output_url


class WorkerBroken(RuntimeError):
    """The worker's pipeline stopped with an error: the driver replaces the worker."""


class PipelineWorker:
    """The body of the Ray actor (see `streamclip.ray.driver` for how it is placed)."""

    def __init__(self, config: PipelineConfig, output_dir: str | None, stages: Sequence[Stage] = ()) -> None:
        self.config = config
        self.stages = list(stages)  # this worker's own copies (the config's are built by the pipeline)
        self.output_dir = output_dir
        self._stack = contextlib.AsyncExitStack()
        self._pipe: Pipeline | None = None
        self._router: asyncio.Task[None] | None = None
        self._routes: dict[str, asyncio.Queue[Event | WorkerBroken]] = {}
        self._broken: WorkerBroken | None = None
        self.videos_started = 0
        self.max_in_flight = 0  # measured here, independently of the driver's own accounting

    async def start(self) -> dict[str, Any]:
        """Open the pipeline; returns where this worker runs (for logs and clean-up)."""
        if self._pipe is None:
            output = output_url(self.output_dir) if self.output_dir is not None else None
            self._pipe = await self._stack.enter_async_context(
                open_local_pipeline(self.config, output, None, stages=self.stages)
            )
            self._router = asyncio.create_task(self._route(self._pipe), name="streamclip-ray-router")
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "workspace": str(self._pipe.workspace.root),
        }

    async def process(self, path: str, rel: str) -> AsyncIterator[Event]:
        """Submit one video and yield its events as they happen, its final event last."""
        pipe = self._pipe
        if pipe is None:
            raise WorkerBroken("process() before start()")
        source = remote.source_id(path)  # what its events carry (an object URL without secrets)
        if source in self._routes:
            raise ValueError(f"{source} is already being processed by this worker")
        queue: asyncio.Queue[Event | WorkerBroken] = asyncio.Queue(maxsize=self.config.channels.events)
        self._routes[source] = queue
        self.videos_started += 1
        self.max_in_flight = max(self.max_in_flight, len(self._routes))
        try:
            if self._broken is not None:
                raise self._broken
            await pipe.submit(path if remote.is_remote(path) else source, rel=rel)
            while True:
                event = await queue.get()
                if isinstance(event, WorkerBroken):
                    raise event
                yield event
                if not isinstance(event, ClipReady):
                    return
        finally:
            del self._routes[source]

    async def _route(self, pipe: Pipeline) -> None:
        try:
            async for event in pipe:
                source = event.clip.source if isinstance(event, ClipReady) else event.source
                queue = self._routes.get(source)
                if queue is not None:  # else its caller has gone: the driver retries it elsewhere
                    await queue.put(event)
            reason = "the pipeline ended"
        except Exception as exc:  # every waiting video must hear of it
            reason = f"the pipeline failed: {type(exc).__name__}: {exc}"
        self._broken = WorkerBroken(f"worker {os.getpid()} on {socket.gethostname()}: {reason}")
        for queue in self._routes.values():
            while not queue.empty():  # events not yet taken: the driver runs the video again elsewhere
                queue.get_nowait()
            queue.put_nowait(self._broken)

    def statistics(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "in_flight": sorted(remote.default_rel(source) for source in self._routes),
            "videos_started": self.videos_started,
            "max_in_flight": self.max_in_flight,
            "pipeline": self.pipeline_statistics(),
        }

    def pipeline_statistics(self) -> PipelineStats:
        """Its pipeline's typed statistics (the driver sums its workers')."""
        return self._pipe.statistics() if self._pipe is not None else PipelineStats()

    def progress(self) -> int:
        """A figure that grows while the pipeline moves: items through its channels and the bytes
        of its work files (an encoder or frame extractor writing). Read by the driver's watchdog."""
        if self._pipe is None:
            return 0
        moved = sum(channel.statistics().items_in for channel in self._pipe.channels)
        return moved + sum(entry.stat().st_size for entry in os.scandir(self._pipe.workspace.root) if entry.is_file())

    async def close(self) -> None:
        """Close the pipeline (kills its ffmpeg children, removes its work folder)."""
        if self._router is not None:
            self._router.cancel()
        await self._stack.aclose()
        self._pipe = None
