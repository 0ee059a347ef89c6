"""The ingest daemon: watched folders -> one long-lived pipeline -> output folder, with a ledger.

    watcher ─candidates─► intake ─submit─► Pipeline ─events─► consume ─► ledger, metrics, report
                          (ledger: skip, dedupe,      (one for the whole life:
                           at most N in flight)        the model is loaded once)

`streamclip serve` runs it from a TOML config, `streamclip watch` from its arguments. SIGTERM or
SIGINT stops intake, lets the videos in flight finish for up to `drain_timeout_s`, then cancels
the pipeline (every ffmpeg child is killed and reaped, work files removed) and returns 0; a second
signal skips the rest of the drain. Unfinished sources go back to `queued` in the ledger and are
resumed at the next start without encoding again the clips already written; a source left
`running` means the daemon died while on it, and one it died on `MAX_ATTEMPTS` times is quarantined.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from streamclip.api import EventPipeline, open_pipeline
from streamclip.config import PipelineConfig
from streamclip.errors import BAD_INPUT, ConfigError, Reason, StreamclipError
from streamclip.ingest.config import LEDGER_DIR, ServeConfig, parse_address, settings_hash
from streamclip.ingest.fingerprint import fingerprint
from streamclip.ingest.growing import grew_again, read_to
from streamclip.ingest.housekeeping import lock_output, move_aside, remove_clip_outputs, remove_stale_work
from streamclip.ingest.ledger import Ledger
from streamclip.ingest.metrics import LiveStats, Metrics, MetricsServer
from streamclip.ingest.report import FileOutcome, LineReporter, Outcome
from streamclip.ingest.streams import StreamSupervisor
from streamclip.ingest.watcher import Candidate, Watcher
from streamclip.review import LiveReport, resolve_request
from streamclip.review.serving import byte_range
from streamclip.runtime.channel import Channel
from streamclip.stats import DetectorStats
from streamclip.storage import s3
from streamclip.storage.outputs import S3Output
from streamclip.storage.poller import PrefixPoller, Watchers, Watching, object_fingerprint
from streamclip.types import ClipReady, Event, VideoDone, VideoFailed

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
THREADS = 8  # the event loop's default executor
MAX_ATTEMPTS = 3  # a source the daemon died on this many times is quarantined (no crash loop)


class _InFlight(msgspec.Struct, kw_only=True):
    rel: str
    found_at: float  # monotonic: when the intake took the settled file
    follow: bool = False  # taken while still growing, read as it grows
    clip_failure: Reason | None = None  # the kind of its first failed clip


class Daemon:
    """Runs until stopped by a signal (or `stop()`); `run` returns the exit status."""

    def __init__(self, config: ServeConfig, reporter: LineReporter, *, pipeline_config: PipelineConfig | None = None):
        self.config = config
        self.pipeline_config = pipeline_config or config.pipeline_config()
        self.settings = settings_hash(self.pipeline_config)
        # An s3:// output: clips go to the bucket, the ledger (and its lock) stay in a local folder.
        self.output_url = config.output if s3.is_s3(config.output) else None
        self.output = config.ledger_path.parent if self.output_url else Path(os.path.abspath(config.output))
        self.roots = [Path(os.path.abspath(folder)) for folder in config.watch if not s3.is_s3(folder)]
        self.prefixes = [prefix for prefix in config.watch if s3.is_s3(prefix)]  # polled (storage.poller)
        self.reporter = reporter
        self.candidates: Channel[Candidate] = Channel(config.candidates, "candidates")
        self.metrics = Metrics(self._live)
        self.in_flight: dict[str, _InFlight] = {}
        self.recheck_after: set[str] = set()
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._slots = asyncio.Semaphore(config.max_videos_in_flight)
        self._pipe: EventPipeline | None = None
        self._watcher: Watching | None = None
        self._streams: StreamSupervisor | None = None
        self._ledger: Ledger | None = None
        self._crashed = False
        self.review = LiveReport(self.output) if config.report and not self.output_url else None

    def stop(self, *, hurry: bool = False) -> None:
        """Begin the drain (or, with `hurry` or a second call, cut it short)."""
        if self._stopping.is_set() or hurry:
            self._hurry.set()
        self._stopping.set()

    @property
    def ledger(self) -> Ledger:
        assert self._ledger is not None, "the ledger is open only while the daemon runs"
        return self._ledger

    async def run(self) -> int:
        for root in self.roots:
            if not root.is_dir():
                raise ConfigError(f"watch: folder not found: {root}")
            if root.is_relative_to(self.output):
                raise ConfigError(f"watch: {root} is inside the output folder {self.output}")
        lock = lock_output(self.output / LEDGER_DIR if not self.output_url else self.output)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            for stale in remove_stale_work(self.output):
                log.warning("removed work folder left by a stopped process: %s", stale)
            self._ledger = Ledger(self.config.ledger_path)
            self._forget_vanished()
            output = self.output_url or self.output
            async with open_pipeline(self.pipeline_config, output, ray=self.config.ray) as pipe:
                self._pipe = pipe
                return await self._serve(pipe)
        finally:
            if self._ledger is not None:
                self._requeue_in_flight()
                self._ledger.close()
            lock.close()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    # -- the life of the daemon ----------------------------------------------------------------------

    async def _serve(self, pipe: EventPipeline) -> int:
        self._watcher = watcher = self._make_watcher()
        server = await self._start_server()
        self.reporter.say(self._banner(server))
        self._streams = StreamSupervisor(
            self.config.streams, pipe.submit, self.config.stream_retry(), on_reconnect=self._reconnected
        )
        tasks = {
            asyncio.create_task(watcher.run(), name="watcher"),
            asyncio.create_task(self._intake(pipe), name="intake"),
            asyncio.create_task(self._consume(pipe), name="events"),
            asyncio.create_task(self._streams.run(), name="streams"),
        }
        review = asyncio.create_task(self.review.run(), name="review") if self.review is not None else None
        try:
            stop = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({stop, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            self._crashed = not stop.done()
            stop.cancel()
            await self._drain(pipe, watcher, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            await self._close_review(review)
            if server is not None:
                await server.close()
        self.reporter.say(self.reporter.summary(len(self.in_flight)))
        return self._exit_status(tasks)

    async def _drain(self, pipe: EventPipeline, watcher: Watching, tasks: set[asyncio.Task[None]]) -> None:
        """Stop intake, let the videos in flight finish for up to `drain_timeout_s`, then stop."""
        self.metrics.draining.set(1)
        by_name = {task.get_name(): task for task in tasks}
        watcher.stop()
        if self._streams is not None:
            self._streams.stop()
        pipe.stop_live()  # a stream's scene in progress is closed at its last frame and its clip written
        for name in ("intake", "watcher", "streams"):
            by_name[name].cancel()
        await asyncio.wait([by_name["intake"], by_name["watcher"], by_name["streams"]])
        pipe.close_input()
        events = by_name["events"]
        if self.in_flight and not events.done():
            self.reporter.say(
                f"draining: {len(self.in_flight)} video(s) in flight, up to {self.config.drain_timeout_s:g} s"
            )
        hurry = asyncio.create_task(self._hurry.wait())
        await asyncio.wait([events, hurry], timeout=self.config.drain_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        if not events.done():  # the sources left go back to `queued` as the daemon stops
            left = ", ".join(sorted(v.rel for v in self.in_flight.values()))
            why = "drain cut short" if self._hurry.is_set() else "drain time over"
            self.reporter.say(f"{why}: cancelling {left}; resumed at the next start")

    async def _close_review(self, review: asyncio.Task[None] | None) -> None:
        """Stop the live rebuilds; the pages changed since the last one are made once more."""
        if review is None or self.review is None:
            return
        review.cancel()
        await asyncio.wait([review])
        if not self._hurry.is_set():
            await self.review.flush()

    def _exit_status(self, tasks: set[asyncio.Task[None]]) -> int:
        failed = [t for t in tasks if not t.cancelled() and t.exception() is not None]
        for task in failed:
            error = task.exception()
            log.error("%s stopped: %s", task.get_name(), error, exc_info=error)
        return EXIT_FAILED if failed or self._crashed else EXIT_OK

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stopping.is_set():
            self.reporter.say(f"{name} again: cancelling now")
        else:
            self.reporter.say(f"{name}: no new files; finishing the videos in flight")
        self.stop()

    # -- intake: candidates -> ledger -> pipeline ---------------------------------------------------

    async def _intake(self, pipe: EventPipeline) -> None:
        async for candidate in self.candidates:
            await self._take(pipe, candidate)

    async def _take(self, pipe: EventPipeline, candidate: Candidate) -> None:
        path, found_at = candidate.path, time.monotonic()
        if path in self.in_flight:
            self.recheck_after.add(path)  # changed while processed: look again when it is done
            return
        try:
            content = await asyncio.to_thread(object_fingerprint if s3.is_s3(path) else fingerprint, path)
        except OSError as exc:
            log.info("%s vanished before it could be read: %s", path, exc)
            return
        candidate = self._unless_poison(candidate, content)
        if not self._wanted(candidate, content):
            return
        if candidate.error:
            await self._set_aside(path, candidate.rel, candidate.error, candidate.kind)
            return
        await self._slots.acquire()
        self.in_flight[path] = _InFlight(rel=candidate.rel, found_at=found_at, follow=candidate.follow)
        self.metrics.in_flight.set(len(self.in_flight))
        self.ledger.start(path)
        try:
            await pipe.submit(path, rel=candidate.rel, follow=candidate.follow)
        except BaseException:
            self._release(path)
            raise
        if self.review is not None:
            self.review.started(path, candidate.rel)
        self.reporter.progress(len(self.in_flight))

    def _unless_poison(self, candidate: Candidate, content: str) -> Candidate:
        """A source the daemon died on (still `running`) `MAX_ATTEMPTS` times is made a bad candidate."""
        row = self.ledger.get(candidate.path)
        if (
            row is None
            or row.state != "running"
            or row.attempts < MAX_ATTEMPTS
            or not row.same_work(content, self.settings)
        ):
            return candidate
        reason = f"the daemon stopped {row.attempts} times while processing this file"
        return msgspec.structs.replace(candidate, error=reason, kind=Reason.CRASH_LOOP)

    def _wanted(self, candidate: Candidate, content: str) -> bool:
        """Record the candidate as queued unless this content was already handled with these settings."""
        path, ledger = candidate.path, self.ledger
        row = ledger.get(path)
        if row is not None and row.fingerprint == content and row.state == "quarantined":
            return self._skip("quarantined")
        if row is not None and row.same_work(content, self.settings) and row.state == "done":
            return self._skip("done")
        if row is not None and not row.same_work(content, self.settings) and row.clips:
            if grew_again(row, candidate, self.settings, follow=self.config.follow):
                log.info("%s grew again: processed again, reusing its clips", path)
            else:
                removed = self._remove_clip_outputs(ledger.clips_of(path))
                ledger.forget_clips(path)
                log.info("%s changed (content or settings): removed %d outdated output file(s)", path, removed)
        twin = None if candidate.error else ledger.twin_of(path, content, self.settings)
        ledger.queue(path, size=candidate.size, mtime_ns=candidate.mtime_ns, fingerprint=content,
                     settings_hash=self.settings)  # fmt: skip
        if twin is not None:
            ledger.finish(path, "done", note=f"duplicate of {twin.path}")
            return self._skip("duplicate", f"{candidate.rel}: same content as {twin.path}")
        return True

    def _skip(self, why: str, line: str = "") -> bool:
        """Not processed again (a restart skips its finished sources silently, a duplicate says so)."""
        self.metrics.skipped.labels(why=why).inc()
        self.reporter.skipped(line)
        return False

    # -- events: pipeline -> ledger, metrics, report -----------------------------------------------

    async def _consume(self, pipe: EventPipeline) -> None:
        async for event in pipe:
            if self._streams is not None and self._streams.on_event(event):
                self._stream_event(event)
            elif isinstance(event, ClipReady):
                self._clip(event)
            elif isinstance(event, VideoDone):
                await self._followed_to_end(event)
                self._video_done(event)
            else:
                await self._video_failed(event)
            self.reporter.progress(len(self.in_flight))

    def _stream_event(self, event: Event) -> None:
        """A clip or the end of a session of a `streams` URL: counted and reported, not in the ledger."""
        if isinstance(event, ClipReady):
            if event.clip.ok:
                self.metrics.clips.inc()
                self.reporter.clip()
            else:
                self.metrics.clip_failures.inc()
            return
        state: Outcome = "done" if isinstance(event, VideoDone) else "failed"
        reason = event.note if isinstance(event, VideoDone) else f"[{event.kind}] {event.reason}"
        self.metrics.videos.labels(outcome=state).inc()
        self.reporter.finished(FileOutcome(rel=event.source, outcome=state, clips=event.num_clips, seconds=0.0,
                                           reason=reason))  # fmt: skip

    def _reconnected(self, stream: str) -> None:
        self.metrics.stream_reconnects.labels(stream=stream).inc()

    async def _followed_to_end(self, event: VideoDone) -> None:
        """A followed file is finished at the size it was read to: its row stands for that content,
        so the watcher's next look at it (settled, unchanged) skips it; one that grew since is
        processed again."""
        flight = self.in_flight.get(event.source)
        if flight is None or not flight.follow or event.metadata is None:
            return
        try:
            size, mtime_ns, content = await asyncio.to_thread(read_to, event.source)
        except OSError:
            return
        if size == event.metadata.size:
            self.ledger.update_content(event.source, size=size, mtime_ns=mtime_ns, fingerprint=content)

    def _clip(self, event: ClipReady) -> None:
        clip = event.clip
        if self.review is not None:
            self.review.clip(clip.source, str(clip.uuid))
        if not clip.ok:
            self.metrics.clip_failures.inc()
            flight = self.in_flight.get(clip.source)
            if flight is not None and flight.clip_failure is None:
                flight.clip_failure = clip.failure_kind or Reason.OTHER
            return
        if not self.ledger.add_clip(clip.source, str(clip.uuid)):
            self.metrics.clips_reused.inc()
            return
        self.metrics.clips.inc()
        self.reporter.clip()
        flight = self.in_flight.get(clip.source)
        if flight is not None:
            self.metrics.latency.observe(time.monotonic() - flight.found_at)

    def _video_done(self, event: VideoDone) -> None:
        state: Outcome = "done"
        error, kind = "", ""
        if event.num_failed_clips:
            flight = self.in_flight.get(event.source)
            kind = (flight.clip_failure if flight is not None else None) or Reason.OTHER
            state = "failed"
            first = event.errors.get("clips", "")
            error = f"{event.num_failed_clips} clip(s) failed ({kind}; first: {first}); retried at the next start"
            self.metrics.failures.labels(reason=kind).inc()
        self.ledger.finish(
            event.source, state, error=error, note=event.note, failed_clips=event.num_failed_clips, kind=kind
        )
        self._finished(event.source, state, error or event.note, event.num_clips)

    async def _video_failed(self, event: VideoFailed) -> None:
        flight = self.in_flight.get(event.source)
        rel = flight.rel if flight is not None else Path(event.source).name
        await self._set_aside(event.source, rel, event.reason, event.kind, clips=event.num_clips)

    async def _set_aside(self, path: str, rel: str, reason: str, kind: Reason, *, clips: int = 0) -> None:
        """A bad file is quarantined (moved aside when configured); any other failure is `failed`
        (a full disk or a missing tool is not the file's fault: it is tried again at the next start)."""
        state: Outcome = "quarantined" if kind in BAD_INPUT else "failed"
        note = ""
        if state == "quarantined" and self.config.quarantine_dir and not s3.is_s3(path):  # objects stay
            try:
                moved = await asyncio.to_thread(move_aside, Path(path), Path(self.config.quarantine_dir), rel)
                note = f"moved to {moved}"
            except OSError as exc:
                note = f"could not be moved aside: {exc}"
        self.ledger.finish(path, state, error=reason, note=note, kind=kind)
        self.metrics.failures.labels(reason=kind).inc()
        self._finished(path, state, f"{reason}{f' ({note})' if note else ''}", clips)

    def _finished(self, path: str, state: Outcome, reason: str, clips: int) -> None:
        flight = self.in_flight.get(path)
        seconds = time.monotonic() - flight.found_at if flight is not None else 0.0
        rel = flight.rel if flight is not None else Path(path).name
        self.metrics.videos.labels(outcome=state).inc()
        self.reporter.finished(FileOutcome(rel=rel, outcome=state, clips=clips, seconds=seconds, reason=reason))
        if self.review is not None:
            self.review.finished(path, rel)
        if flight is not None:
            self._release(path)

    def _release(self, path: str) -> None:
        flight = self.in_flight.pop(path, None)
        if flight is not None:
            self._slots.release()
        self.metrics.in_flight.set(len(self.in_flight))
        if flight is not None and flight.follow:
            self.recheck_after.add(path)  # finished where it stopped growing: it may grow again
        if path in self.recheck_after and self._watcher is not None:
            self.recheck_after.discard(path)
            self._watcher.recheck(path)

    # -- parts --------------------------------------------------------------------------------------

    def _make_watcher(self) -> Watching:
        poller = PrefixPoller(
            self.prefixes, self.candidates, settle_s=self.config.settle_s, rescan_s=self.config.rescan_s,
            probe_timeout_s=self.pipeline_config.limits.probe_timeout_s, known=self._already_handled,
            owns_outbox=not self.roots, exclude=self.output_url,
        )  # fmt: skip
        if not self.roots:
            return poller
        folders = self._folder_watcher()
        return Watchers([folders, poller], self.candidates) if self.prefixes else folders

    def _folder_watcher(self) -> Watcher:
        exclude = [self.output, self.config.ledger_path.parent]
        if self.config.quarantine_dir:
            exclude.append(Path(self.config.quarantine_dir))
        return Watcher(
            self.roots, self.candidates, settle_s=self.config.settle_s, rescan_s=self.config.rescan_s,
            incomplete_wait_s=self.config.incomplete_wait_s, exclude=exclude,
            probe_timeout_s=self.pipeline_config.limits.probe_timeout_s, known=self._already_handled,
            symlinks=self.config.symlinks, follow=self.config.follow and self.pipeline_config.spans.mode == "scene",
        )  # fmt: skip

    def _remove_clip_outputs(self, clip_ids: list[str]) -> int:
        if self.output_url is None:
            return remove_clip_outputs(self.output, clip_ids)
        store = S3Output(self.output_url)
        for text in clip_ids:
            store.discard_clip(uuid.UUID(text))
        return len(clip_ids)

    def _already_handled(self, path: str, size: int, mtime_ns: int) -> bool:
        """The ledger has this file, same size and mtime, done with these settings (or quarantined).

        Trusting size and mtime spares a restart a probe and a fingerprint per finished file.
        """
        row = self.ledger.get(path)
        if row is None or (row.size, row.mtime_ns) != (size, mtime_ns):
            return False
        handled = row.state == "quarantined" or (row.state == "done" and row.settings_hash == self.settings)
        if handled:
            self._skip(row.state)
        return handled

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
        return "draining" if self._stopping.is_set() else ""

    def _live(self) -> LiveStats:
        channels = {self.candidates.name: (len(self.candidates), self.candidates.capacity)}
        detector, live = DetectorStats(), None
        if self._pipe is not None:
            stats = self._pipe.statistics()
            channels.update({name: (c.depth, c.capacity) for name, c in stats.channels.items()})
            detector, live = stats.detector or detector, stats.decoder
        watcher = self._watcher.statistics() if self._watcher is not None else {}
        ledger: dict[str, tuple[int, int]] = (
            {c.state: (c.sources, c.clips) for c in self.ledger.summary()} if self._ledger else {}
        )
        return LiveStats(
            channels=channels,
            detector_batches=detector.batches,
            detector_windows=detector.windows,
            watcher_pending=watcher.get("pending", 0),
            watcher_probes=watcher.get("probes", 0),
            ledger=ledger,
            live_lag_s=live.lag_s if live is not None else 0.0,
            live_spool_bytes=live.spool_bytes if live is not None else 0,
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

    def _requeue_in_flight(self) -> None:
        """Sources still in flight as the daemon stops (a drain cut short, or a part of the daemon
        failed) go back to `queued`: not counted as a death on that file."""
        note = "interrupted: a part of the daemon failed" if self._crashed else "interrupted by a shutdown"
        for path in self.in_flight:
            self.ledger.interrupt(path, note=note)

    def _forget_vanished(self) -> None:
        """Sources left unfinished by a previous run whose file is gone are marked failed."""
        for row in self.ledger.records("queued", "running"):
            if not s3.is_s3(row.path) and not os.path.exists(row.path):  # an object is looked at when listed
                self.ledger.finish(
                    row.path, "failed", error="source file disappeared before it was finished", kind=Reason.MISSING
                )


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
