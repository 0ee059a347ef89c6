"""Keeping `serve`'s `streams = [...]` open: each URL is submitted, and submitted again after a
backoff whenever its session ends.

A session of a stream is one `pipe.submit(url)`; it ends with the one `VideoDone`/`VideoFailed`
whose `source` is `session_source(url, start)`, i.e. starts with `session_prefix(url)`: the URL
as `redact` shows it, then a hash of the whole URL (`streamclip.sources`), so two URLs shown alike
(two stream keys of one RTMP application) are still two streams. The daemon hands every event to
`StreamSupervisor.on_event` first; those of a stream are not ledger files.

The wait before the next session doubles after each session (from `retry_s` up to `retry_max_s`),
with ±`JITTER` so that streams dropped together by one network fault do not come back in step,
and goes back to `retry_s` after a session that ran at least `reset_after_s` (a stream that ran
for an hour and dropped is retried at once; a URL refused ten times in a row is tried once a
minute). A submit that raises (an unsupported or malformed URL) counts as a session that ended
at once. URLs are logged through `redact` only: no password, key, token or passphrase in a log
line; a stream's metric label and its entry in `statistics()` are its hash (`url_key`), and the
statistics give the redacted URL beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable

import msgspec

from streamclip.contract.types import Event, VideoDone, VideoFailed
from streamclip.errors import StreamclipError
from streamclip.sources import redact, scrub, session_prefix, url_key

log = logging.getLogger(__name__)

JITTER = 0.2  # each wait is the backoff times a random factor in [1 - JITTER, 1 + JITTER]

Submit = Callable[[str], Awaitable[None]]


class StreamRetry(msgspec.Struct, frozen=True, kw_only=True):
    """How streams are reopened (serve.toml: `stream_retry_s`, `stream_retry_max_s`, `stream_reset_after_s`)."""

    retry_s: float = 1.0
    retry_max_s: float = 60.0
    reset_after_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_s <= self.retry_max_s or self.reset_after_s < 0:
            raise ValueError("stream_retry_s must be > 0 and <= stream_retry_max_s; stream_reset_after_s >= 0")


class Backoff:
    """Exponential backoff with a cap and jitter, reset by a session that ran long enough."""

    def __init__(self, retry: StreamRetry, rng: random.Random | None = None) -> None:
        self.retry = retry
        self.rng = rng or random.Random()
        self.next_s = retry.retry_s

    def after(self, session_s: float) -> float:
        """The wait before the next session, the last one having run `session_s` seconds."""
        if session_s >= self.retry.reset_after_s:
            self.next_s = self.retry.retry_s
        wait = self.next_s
        self.next_s = min(self.next_s * 2, self.retry.retry_max_s)
        return wait * self.rng.uniform(1 - JITTER, 1 + JITTER)


class _Stream:
    def __init__(self, url: str, retry: StreamRetry) -> None:
        self.url = url
        self.name = redact(url)
        self.key = url_key(url)
        self.prefix = session_prefix(url)
        self.backoff = Backoff(retry)
        self.ended = asyncio.Event()
        self.last_end = ""
        self.sessions = 0
        self.reconnects = 0


class StreamSupervisor:
    """One task per URL: submit, wait for the session's end event, back off, submit again."""

    def __init__(
        self,
        urls: Iterable[str],
        submit: Submit,
        retry: StreamRetry,
        *,
        on_reconnect: Callable[[str], None] | None = None,
    ) -> None:
        self.submit = submit
        self.streams = [_Stream(url, retry) for url in urls]
        self.on_reconnect = on_reconnect  # given the stream's key (a metric label)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Open no new session; `run` returns at once (sessions in flight end with the pipeline)."""
        self._stopping.set()

    def owns(self, source: str) -> bool:
        """`source` (an event's) is a session of one of the streams."""
        return any(source.startswith(stream.prefix) for stream in self.streams)

    def on_event(self, event: Event) -> bool:
        """Note a session's end; True when the event belongs to a stream (not to a ledger file)."""
        source = event.clip.source if not isinstance(event, VideoDone | VideoFailed) else event.source
        stream = next((s for s in self.streams if source.startswith(s.prefix)), None)
        if stream is None:
            return False
        if isinstance(event, VideoDone):
            stream.last_end = f"ended after {event.num_clips} clip(s)"
            stream.ended.set()
        elif isinstance(event, VideoFailed):
            stream.last_end = f"failed [{event.kind}]: {_redacted(event.reason, stream.url)}"
            stream.ended.set()
        return True

    async def run(self) -> None:
        """Keep every stream open until `stop()` (with no stream, just wait for it: the daemon
        treats a part that returns early as a failure)."""
        if not self.streams:
            await self._stopping.wait()
            return
        async with asyncio.TaskGroup() as group:
            for stream in self.streams:
                group.create_task(self._keep_open(stream), name=f"stream {stream.name}")

    def statistics(self) -> dict[str, dict[str, object]]:
        return {
            s.key: {"url": s.name, "sessions": s.sessions, "reconnects": s.reconnects, "last_end": s.last_end}
            for s in self.streams
        }

    async def _keep_open(self, stream: _Stream) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            await self._session(stream)
            if self._stopping.is_set():
                return
            wait_s = stream.backoff.after(time.monotonic() - started)
            log.warning("stream %s (%s) %s; reconnecting in %.1f s", stream.key, stream.name, stream.last_end, wait_s)
            if await self._stopped_within(wait_s):
                return
            stream.reconnects += 1
            if self.on_reconnect is not None:
                self.on_reconnect(stream.key)

    async def _session(self, stream: _Stream) -> None:
        """Submit the stream and wait for its end event (or for `stop()`)."""
        stream.ended.clear()
        stream.sessions += 1
        try:
            await self.submit(stream.url)
        except (StreamclipError, ValueError, OSError) as exc:  # refused at once: an ended session
            stream.last_end = f"could not be opened: {_redacted(str(exc), stream.url)}"
            return
        log.info("stream %s: session %d started", stream.name, stream.sessions)
        ended = asyncio.ensure_future(stream.ended.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([ended, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (ended, stopping):
                waiter.cancel()

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()


def _redacted(text: str, url: str) -> str:
    """`text` (an error message) with the URL, if it appears in it, shown without its secrets."""
    return scrub(text.replace(url, redact(url))) if url else text
