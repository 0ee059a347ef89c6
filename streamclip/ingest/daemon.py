"""The ingest daemon: watched folders -> one long-lived pipeline -> output folder, with a ledger.

    watcher ─candidates─► intake ─submit─► Pipeline ─events─► consume ─► ledger, metrics, report
                          (ledger: skip, dedupe,      (one for the whole life:
                           at most N in flight)        the model is loaded once)

`streamclip serve` runs it from a TOML config, `streamclip watch` from its arguments. This module
is the daemon's life: it opens the ledger and the pipeline, starts its parts and stops them. The
parts live beside it: `intake` (candidates → ledger decisions → pipeline), `outcomes` (events →
ledger, metrics, report), `streams` (the `streams` URLs), `draining` (signals, the drain, what is
left in flight), `housekeeping` (lock, stale work, quarantine moves, outdated outputs).

SIGTERM or SIGINT stops intake, lets the videos in flight finish for up to `drain_timeout_s`, then
cancels the pipeline (every ffmpeg child is killed and reaped, work files removed) and returns 0.
Unfinished sources go back to `queued` in the ledger and are resumed at the next start without
encoding again the clips already written; a source left `running` means the daemon died while on
it, and one it died on `MAX_ATTEMPTS` times is quarantined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from streamclip.api import EventPipeline, open_pipeline
from streamclip.config import PipelineConfig
from streamclip.contract.stats import DetectorStats
from streamclip.errors import ConfigError, Reason, StreamclipError
from streamclip.ingest.config import LEDGER_DIR, ServeConfig, parse_address, settings_hash
from streamclip.ingest.context import DaemonContext
from streamclip.ingest.draining import Stopping, drain, requeue_in_flight
from streamclip.ingest.flights import Flights
from streamclip.ingest.housekeeping import (
    Removal,
    lock_ledger,
    lock_output,
    remove_outdated_outputs,
    remove_stale_work,
)
from streamclip.ingest.intake import MAX_ATTEMPTS, Intake
from streamclip.ingest.ledger import Ledger
from streamclip.ingest.metrics import LedgerFigures, LiveStats, Metrics, MetricsServer
from streamclip.ingest.outcomes import Outcomes
from streamclip.ingest.report import LineReporter
from streamclip.ingest.streams import StreamSupervisor
from streamclip.ingest.watcher import Candidate, Watcher
from streamclip.review import LiveReport, resolve_request
from streamclip.review.serving import byte_range
from streamclip.runtime.channel import Channel
from streamclip.storage import s3
from streamclip.storage.poller import PrefixPoller, Watchers, Watching

__all__ = ["MAX_ATTEMPTS", "Daemon", "serve"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
THREADS = 8  # the event loop's default executor


class Daemon:
    """Runs until stopped by a signal (or `stop()`); `run` returns the exit status."""

    def __init__(self, config: ServeConfig, reporter: LineReporter, *, pipeline_config: PipelineConfig | None = None):
        self.config = config
        self.pipeline_config = pipeline_config or config.pipeline_config()
        self.settings = settings_hash(self.pipeline_config)
        # An s3:// output: clips go to the bucket, the ledger (and its lock) stay in a local folder.
        self.output_url = config.output if s3.is_s3(config.output) else None
        self.output = config.ledger_path.parent if self.output_url else Path(os.path.abspath(config.output))
        # Clips for an s3:// output are made in a work folder beside the ledger, under its lock: one a
        # killed daemon left is found and removed at the next start (inside OUT for a folder output).
        self.work_dir = config.ledger_path.with_name(f"{config.ledger_path.name}.work") if self.output_url else None
        self.roots = [Path(os.path.abspath(folder)) for folder in config.watch if not s3.is_s3(folder)]
        self.prefixes = [prefix for prefix in config.watch if s3.is_s3(prefix)]  # polled (storage.poller)
        self.reporter = reporter
        self.candidates: Channel[Candidate] = Channel(config.candidates, "candidates")
        self.ledger_figures = LedgerFigures(config.ledger_path)  # read in a thread before a scrape
        self.metrics = Metrics(self._live, before_scrape=self.ledger_figures.refresh)
        self.flights = Flights(config.max_videos_in_flight, self.metrics)
        self.stopping = Stopping(reporter)
        self.review = LiveReport(self.output) if config.report and not self.output_url else None
        self._ctx: DaemonContext | None = None
        self._pipe: EventPipeline | None = None
        self._watcher: Watching | None = None
        self._crashed = False

    def stop(self, *, hurry: bool = False) -> None:
        """Begin the drain (or, with `hurry` or a second call, cut it short)."""
        self.stopping.stop(hurry=hurry)

    async def run(self) -> int:
        for root in self.roots:
            if not root.is_dir():
                raise ConfigError(f"watch: folder not found: {root}")
            if root.is_relative_to(self.output):
                raise ConfigError(f"watch: {root} is inside the output folder {self.output}")
        locks = [lock_output(self.output / LEDGER_DIR)] if not self.output_url else []
        ledger: Ledger | None = None
        try:
            locks.append(lock_ledger(self.config.ledger_path))
            with self.stopping.on_signals():
                ledger = Ledger(self.config.ledger_path)
                ledger.claim(self._output_identity(), moves_with_it=self._ledger_inside_output())
                for stale in remove_stale_work(self.work_dir or self.output):
                    log.warning("removed work folder left by a stopped process: %s", stale)
                self._ctx = DaemonContext(
                    config=self.config, settings=self.settings, ledger=ledger, flights=self.flights,
                    metrics=self.metrics, reporter=self.reporter, review=self.review,
                )  # fmt: skip
                self._forget_vanished(ledger)
                async with self._open_pipeline() as pipe:
                    self._pipe = pipe
                    return await self._serve(self._ctx, pipe)
        finally:
            if self._ctx is not None:
                requeue_in_flight(self._ctx, crashed=self._crashed)
            if ledger is not None:
                ledger.close()
            for lock in reversed(locks):
                lock.close()

    def _open_pipeline(self) -> contextlib.AbstractAsyncContextManager[EventPipeline]:
        if self.config.ray is not None:
            return open_pipeline(self.pipeline_config, self.output_url or self.output, ray=self.config.ray)
        return open_pipeline(self.pipeline_config, self.output_url or self.output, work_dir=self.work_dir)

    def _output_identity(self) -> str:
        """What the ledger records as its output: an s3:// prefix, or the folder's real path."""
        if self.output_url:
            return s3.parse(self.output_url).url.rstrip("/")
        return os.path.realpath(self.output)

    def _ledger_inside_output(self) -> bool:
        ledger = os.path.realpath(self.config.ledger_path)
        return not self.output_url and Path(ledger).is_relative_to(os.path.realpath(self.output))

    # -- the life of the daemon ----------------------------------------------------------------------

    async def _serve(self, ctx: DaemonContext, pipe: EventPipeline) -> int:
        streams = StreamSupervisor(
            self.config.streams, pipe.submit, self.config.stream_retry(), on_reconnect=self._reconnected
        )
        outcomes = Outcomes(ctx, streams)
        intake = Intake(ctx, set_aside=outcomes.set_aside, remove_outputs=self._remove_outdated)
        self._watcher = watcher = self._make_watcher(intake)
        self.flights.recheck = watcher.recheck
        server = await self._start_server()
        self.reporter.say(self._banner(server))
        tasks = {
            asyncio.create_task(watcher.run(), name="watcher"),
            asyncio.create_task(intake.run(self.candidates, pipe), name="intake"),
            asyncio.create_task(outcomes.run(pipe), name="events"),
            asyncio.create_task(streams.run(), name="streams"),
        }
        review = asyncio.create_task(self.review.run(), name="review") if self.review is not None else None
        try:
            stop = asyncio.create_task(self.stopping.requested.wait())
            await asyncio.wait({stop, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            self._crashed = not stop.done()
            stop.cancel()
            await drain(ctx, self.stopping, pipe, watcher, streams, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            await self._close_review(review)
            if server is not None:
                await server.close()
        self.reporter.say(self.reporter.summary(len(self.flights)))
        return self._exit_status(tasks)

    async def _close_review(self, review: asyncio.Task[None] | None) -> None:
        """Stop the live rebuilds; the pages changed since the last one are made once more."""
        if review is None or self.review is None:
            return
        review.cancel()
        await asyncio.wait([review])
        if not self.stopping.hurry.is_set():
            await self.review.flush()

    def _exit_status(self, tasks: set[asyncio.Task[None]]) -> int:
        failed = [t for t in tasks if not t.cancelled() and t.exception() is not None]
        for task in failed:
            error = task.exception()
            log.error("%s stopped: %s", task.get_name(), error, exc_info=error)
        return EXIT_FAILED if failed or self._crashed else EXIT_OK

    def _reconnected(self, stream: str) -> None:
        self.metrics.stream_reconnects.labels(stream=stream).inc()

    # -- parts --------------------------------------------------------------------------------------

    def _make_watcher(self, intake: Intake) -> Watching:
        poller = PrefixPoller(
            self.prefixes, self.candidates, settle_s=self.config.settle_s, rescan_s=self.config.rescan_s,
            probe_timeout_s=self.pipeline_config.limits.probe_timeout_s, known=intake.already_handled,
            owns_outbox=not self.roots, exclude=self.output_url,
        )  # fmt: skip
        if not self.roots:
            return poller
        folders = self._folder_watcher(intake)
        return Watchers([folders, poller], self.candidates) if self.prefixes else folders

    def _folder_watcher(self, intake: Intake) -> Watcher:
        exclude = [self.output, self.config.ledger_path.parent]
        if self.config.quarantine_dir:
            exclude.append(Path(self.config.quarantine_dir))
        return Watcher(
            self.roots, self.candidates, settle_s=self.config.settle_s, rescan_s=self.config.rescan_s,
            incomplete_wait_s=self.config.incomplete_wait_s, exclude=exclude,
            probe_timeout_s=self.pipeline_config.limits.probe_timeout_s, known=intake.already_handled,
            symlinks=self.config.symlinks, follow=self.config.follow and self.pipeline_config.spans.mode == "scene",
        )  # fmt: skip

    def _remove_outdated(self, clip_ids: list[str]) -> Removal:
        return remove_outdated_outputs(self.output_url or self.output, clip_ids)

    async def _start_server(self) -> MetricsServer | None:
        if not self.config.metrics_address:
            return None
        host, port = parse_address(self.config.metrics_address)
        files = (lambda path: resolve_request(self.output, path)) if self.review is not None else None
        server = MetricsServer(self.metrics, host, port, self._health, files, byte_range if files else None)
        try:
            await server.start()
        except OSError as exc:
            raise StreamclipError(f"metrics_address {self.config.metrics_address}: {exc.strerror or exc}") from None
        return server

    def _health(self) -> str:
        if self._crashed:
            return "stopped: a part of the daemon failed"
        return "draining" if self.stopping.requested.is_set() else ""

    def _live(self) -> LiveStats:
        channels = {self.candidates.name: (len(self.candidates), self.candidates.capacity)}
        detector, live, stages = DetectorStats(), None, {}
        if self._pipe is not None:
            stats = self._pipe.statistics()
            channels.update({name: (c.depth, c.capacity) for name, c in stats.channels.items()})
            detector, live = stats.detector or detector, stats.decoder
            stages = {name: (s.processed, s.dropped, s.failed) for name, s in stats.stages.items()}
        watcher = self._watcher.statistics() if self._watcher is not None else {}
        ledger = self.ledger_figures.latest
        return LiveStats(
            channels=channels,
            detector_batches=detector.batches,
            detector_windows=detector.windows,
            watcher_pending=watcher.get("pending", 0),
            watcher_probes=watcher.get("probes", 0),
            ledger=ledger,
            live_lag_s=live.lag_s if live is not None else 0.0,
            live_spool_bytes=live.spool_bytes if live is not None else 0,
            stages=stages,
        )

    def _banner(self, server: MetricsServer | None) -> str:
        folders = ", ".join([*map(str, self.roots), *self.prefixes])
        metrics = f"; metrics on http://{server.host}:{server.port}/metrics" if server is not None else ""
        if server is not None and self.review is not None:
            metrics += f", review site on http://{server.host}:{server.port}/"
        return (
            f"watching {folders} -> {self.output_url or self.output} (profile {self.pipeline_config.name}, "
            f"settings {self.settings}, {self.config.max_videos_in_flight} video(s) at a time){metrics}"
        )

    @staticmethod
    def _forget_vanished(ledger: Ledger) -> None:
        """Sources left unfinished by a previous run whose file is gone are marked failed."""
        for row in ledger.records("queued", "running"):
            if not s3.is_s3(row.path) and not os.path.exists(row.path):  # an object is looked at when listed
                ledger.finish(row.path, "failed", error="source file disappeared before it was finished",
                              kind=Reason.MISSING)  # fmt: skip


async def serve(config: ServeConfig, reporter: LineReporter) -> int:
    """Run a daemon for `config` until a signal stops it; returns the exit status.

    Blocking calls (fingerprints, folder walks, file checks, the clip writer) go to a fixed pool of
    threads, so a burst of files does not grow the thread count, and with it the memory.
    """
    daemon = Daemon(config, reporter)
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="streamclip") as pool:
        asyncio.get_running_loop().set_default_executor(pool)
        with reporter:
            return await daemon.run()
