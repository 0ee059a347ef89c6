"""Intake: candidates from the watchers → the ledger's decision → the pipeline.

For each settled candidate the ledger decides: skip it (done with these settings, quarantined, a
duplicate of another source's content), set it aside (a bad file, or one the daemon died on
`MAX_ATTEMPTS` times), or submit it. A source whose content or settings changed has its outdated
clips removed first (off the event loop), unless it is a followed file that only grew (its clips are
reused); when they cannot all be removed, it is set aside as `failed` and intake goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec

from streamclip.backend import EventPipeline
from streamclip.errors import Reason
from streamclip.ingest.context import DaemonContext
from streamclip.ingest.fingerprint import fingerprint
from streamclip.ingest.flights import InFlight
from streamclip.ingest.growing import grew_again
from streamclip.ingest.housekeeping import Removal
from streamclip.ingest.watcher import Candidate
from streamclip.runtime.channel import Channel
from streamclip.storage import s3
from streamclip.storage.poller import object_fingerprint

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a source the daemon died on this many times is quarantined (no crash loop)

SetAside = Callable[[str, str, str, Reason], Awaitable[None]]  # path, rel, reason, kind


class Intake:
    def __init__(self, ctx: DaemonContext, *, set_aside: SetAside, remove_outputs: Callable[[list[str]], Removal]):
        self.ctx = ctx
        self._set_aside = set_aside
        self._remove_outputs = remove_outputs  # the clip ids of an outdated source → which were removed (blocking)

    async def run(self, candidates: Channel[Candidate], pipe: EventPipeline) -> None:
        async for candidate in candidates:
            await self.take(pipe, candidate)

    async def take(self, pipe: EventPipeline, candidate: Candidate) -> None:
        ctx, path, found_at = self.ctx, candidate.path, time.monotonic()
        if path in ctx.flights:
            ctx.flights.recheck_when_done(path)  # changed while processed: look again when it is done
            return
        try:
            content = await asyncio.to_thread(object_fingerprint if s3.is_s3(path) else fingerprint, path)
        except OSError as exc:
            log.info("%s vanished before it could be read: %s", path, exc)
            return
        candidate = self._unless_poison(candidate, content)
        if not await self._wanted(candidate, content):
            return
        if candidate.error:
            await self._set_aside(path, candidate.rel, candidate.error, candidate.kind)
            return
        await ctx.flights.admit(path, InFlight(rel=candidate.rel, found_at=found_at, follow=candidate.follow))
        ctx.ledger.start(path)
        try:
            await pipe.submit(path, rel=candidate.rel, follow=candidate.follow)
        except BaseException:
            ctx.flights.release(path)
            raise
        if ctx.review is not None:
            ctx.review.started(path, candidate.rel)
        ctx.reporter.progress(len(ctx.flights))

    def already_handled(self, path: str, size: int, mtime_ns: int) -> bool:
        """The ledger has this file, same size and mtime, done with these settings (or quarantined).

        Trusting size and mtime spares a restart a probe and a fingerprint per finished file.
        """
        row = self.ctx.ledger.get(path)
        if row is None or (row.size, row.mtime_ns) != (size, mtime_ns):
            return False
        handled = row.state == "quarantined" or (row.state == "done" and row.settings_hash == self.ctx.settings)
        if handled:
            self._skip(row.state)
        return handled

    def _unless_poison(self, candidate: Candidate, content: str) -> Candidate:
        """A source the daemon died on (still `running`) `MAX_ATTEMPTS` times is made a bad candidate."""
        row = self.ctx.ledger.get(candidate.path)
        if (
            row is None
            or row.state != "running"
            or row.attempts < MAX_ATTEMPTS
            or not row.same_work(content, self.ctx.settings)
        ):
            return candidate
        reason = f"the daemon stopped {row.attempts} times while processing this file"
        return msgspec.structs.replace(candidate, error=reason, kind=Reason.CRASH_LOOP)

    async def _wanted(self, candidate: Candidate, content: str) -> bool:
        """Record the candidate as queued unless this content was already handled with these settings."""
        path, ledger, settings = candidate.path, self.ctx.ledger, self.ctx.settings
        row = ledger.get(path)
        if row is not None and row.fingerprint == content and row.state == "quarantined":
            return self._skip("quarantined")
        if row is not None and row.same_work(content, settings) and row.state == "done":
            return self._skip("done")
        if row is not None and not row.same_work(content, settings) and row.clips:
            if await asyncio.to_thread(grew_again, row, candidate, settings, follow=self.ctx.config.follow):
                log.info("%s grew again: processed again, reusing its clips", path)
            elif not await self._outdated_removed(candidate):
                return False
        twin = None if candidate.error else ledger.twin_of(path, content, settings)
        ledger.queue(path, size=candidate.size, mtime_ns=candidate.mtime_ns, fingerprint=content,
                     settings_hash=settings)  # fmt: skip
        if twin is not None:
            ledger.finish(path, "done", note=f"duplicate of {twin.path}")
            return self._skip("duplicate", f"{candidate.rel}: same content as {twin.path}")
        return True

    async def _outdated_removed(self, candidate: Candidate) -> bool:
        """Remove the clips of a source whose content or settings changed (in a thread: files, or
        objects over the network); the ledger forgets only the clips really removed. When one cannot
        be removed the source is set aside as `failed` (tried again at the next start)."""
        path, ledger = candidate.path, self.ctx.ledger
        removal = await asyncio.to_thread(self._remove_outputs, ledger.clips_of(path))
        ledger.forget_clips(path, removal.removed)
        if removal.failure:
            await self._set_aside(path, candidate.rel, removal.failure, Reason.OUTPUT_IO)
            return False
        log.info("%s changed (content or settings): removed %d outdated clip(s)", path, len(removal.removed))
        return True

    def _skip(self, why: str, line: str = "") -> bool:
        """Not processed again (a restart skips its finished sources silently, a duplicate says so)."""
        self.ctx.metrics.skipped.labels(why=why).inc()
        self.ctx.reporter.skipped(line)
        return False
