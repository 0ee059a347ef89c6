"""Outcomes: the pipeline's events → the ledger, the metrics, the report and the live review site.

A clip is recorded against its source as it is written; a finished video is `done` (or `failed`
when some of its clips failed: they are tried again at the next start); a failed video is
quarantined when the file is at fault (moved aside when configured) and `failed` otherwise. Clips
and ends of `streams` sessions are counted and reported but kept out of the ledger.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from streamclip.backend import EventPipeline
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed
from streamclip.errors import BAD_INPUT, Reason
from streamclip.ingest.context import DaemonContext
from streamclip.ingest.growing import read_to
from streamclip.ingest.housekeeping import move_aside
from streamclip.ingest.report import FileOutcome, Outcome
from streamclip.ingest.streams import StreamSupervisor
from streamclip.storage import s3


class Outcomes:
    def __init__(self, ctx: DaemonContext, streams: StreamSupervisor) -> None:
        self.ctx = ctx
        self.streams = streams

    async def run(self, pipe: EventPipeline) -> None:
        async for event in pipe:
            if self.streams.on_event(event):
                self._stream_event(event)
            elif isinstance(event, ClipReady):
                self._clip(event)
            elif isinstance(event, VideoDone):
                await self._followed_to_end(event)
                self._video_done(event)
            else:
                await self._video_failed(event)
            self.ctx.reporter.progress(len(self.ctx.flights))

    async def set_aside(self, path: str, rel: str, reason: str, kind: Reason, *, clips: int = 0) -> None:
        """A bad file is quarantined (moved aside when configured); any other failure is `failed`
        (a full disk or a missing tool is not the file's fault: it is tried again at the next start)."""
        ctx = self.ctx
        state: Outcome = "quarantined" if kind in BAD_INPUT else "failed"
        note = ""
        if state == "quarantined" and ctx.config.quarantine_dir and not s3.is_s3(path):  # objects stay
            try:
                moved = await asyncio.to_thread(move_aside, Path(path), Path(ctx.config.quarantine_dir), rel)
                note = f"moved to {moved}"
            except OSError as exc:
                note = f"could not be moved aside: {exc}"
        ctx.ledger.finish(path, state, error=reason, note=note, kind=kind)
        ctx.metrics.failures.labels(reason=kind).inc()
        self._finished(path, state, f"{reason}{f' ({note})' if note else ''}", clips, kind=kind)

    def _stream_event(self, event: Event) -> None:
        """A clip or the end of a session of a `streams` URL: counted and reported, not in the ledger."""
        metrics, reporter = self.ctx.metrics, self.ctx.reporter
        if isinstance(event, ClipReady):
            if event.clip.kept:
                metrics.clips.inc()
                reporter.clip()
            elif event.clip.ok:
                metrics.clips_dropped.inc()
            else:
                metrics.clip_failures.inc()
            return
        state: Outcome = "done" if isinstance(event, VideoDone) else "failed"
        reason, kind = (event.note, "") if isinstance(event, VideoDone) else (event.reason, event.kind)
        metrics.videos.labels(outcome=state).inc()
        reporter.finished(FileOutcome(rel=event.source, outcome=state, clips=event.num_clips, seconds=0.0,
                                      reason=reason, kind=kind))  # fmt: skip

    async def _followed_to_end(self, event: VideoDone) -> None:
        """A followed file is finished at the size it was read to: its row stands for that content,
        so the watcher's next look at it (settled, unchanged) skips it; one that grew since is
        processed again."""
        flight = self.ctx.flights.get(event.source)
        if flight is None or not flight.follow or event.metadata is None:
            return
        try:
            size, mtime_ns, content = await asyncio.to_thread(read_to, event.source)
        except OSError:
            return
        if size == event.metadata.size:
            self.ctx.ledger.update_content(event.source, size=size, mtime_ns=mtime_ns, fingerprint=content)

    def _clip(self, event: ClipReady) -> None:
        ctx, clip = self.ctx, event.clip
        if ctx.review is not None:
            ctx.review.clip(clip.source, str(clip.uuid))
        flight = ctx.flights.get(clip.source)
        if not clip.ok:
            ctx.metrics.clip_failures.inc()
            if flight is not None and flight.clip_failure is None:
                flight.clip_failure = clip.failure_kind or Reason.OTHER
            return
        if not ctx.ledger.add_clip(clip.source, str(clip.uuid)):  # a dropped clip's meta is its source's too
            ctx.metrics.clips_reused.inc()
            return
        if not clip.kept:
            ctx.metrics.clips_dropped.inc()
            return
        ctx.metrics.clips.inc()
        ctx.reporter.clip()
        if flight is not None:
            ctx.metrics.latency.observe(time.monotonic() - flight.found_at)

    def _video_done(self, event: VideoDone) -> None:
        state: Outcome = "done"
        error, kind = "", ""
        if event.num_failed_clips:
            flight = self.ctx.flights.get(event.source)
            kind = (flight.clip_failure if flight is not None else None) or Reason.OTHER
            state = "failed"
            first = event.errors.get("clips", "")
            error = f"{event.num_failed_clips} clip(s) failed ({kind}; first: {first}); retried at the next start"
            self.ctx.metrics.failures.labels(reason=kind).inc()
        self.ctx.ledger.finish(
            event.source, state, error=error, note=event.note, failed_clips=event.num_failed_clips, kind=kind
        )
        self._finished(event.source, state, error or event.note, event.num_clips, kind=kind)

    async def _video_failed(self, event: VideoFailed) -> None:
        flight = self.ctx.flights.get(event.source)
        rel = flight.rel if flight is not None else Path(event.source).name
        await self.set_aside(event.source, rel, event.reason, event.kind, clips=event.num_clips)

    def _finished(self, path: str, state: Outcome, reason: str, clips: int, *, kind: str = "") -> None:
        ctx = self.ctx
        flight = ctx.flights.get(path)
        seconds = time.monotonic() - flight.found_at if flight is not None else 0.0
        rel = flight.rel if flight is not None else Path(path).name
        ctx.metrics.videos.labels(outcome=state).inc()
        ctx.reporter.finished(
            FileOutcome(rel=rel, outcome=state, clips=clips, seconds=seconds, reason=reason, kind=kind)
        )
        if ctx.review is not None:
            ctx.review.finished(path, rel)
        if flight is not None:
            ctx.flights.release(path)
