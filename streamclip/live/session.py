"""One session of a live source (stdin or a network stream): its reader, spool, identity and lag.

The reader runs as a task beside the decoder and never waits on it: it only writes the spool.
The decoder takes finished segments in order (`next_segment`); the span builder says from which
frame on a future span can still start (`keep_from`), spans on their way to the transcoder are
pinned (`pin`/`unpin`), and the segments before both are deleted (`release`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
from pathlib import Path

from streamclip.config import LiveConfig
from streamclip.contract.types import Span
from streamclip.errors import Reason, StreamclipError, stderr_summary
from streamclip.ffmpeg import children
from streamclip.live.argv import reader_command
from streamclip.live.spool import COUNT_TIMEOUT_S, Segment, Spool
from streamclip.sources import STDIN, SourceKind, classify, redact, session_rel, session_source

log = logging.getLogger(__name__)

POLL_S = 0.1
# A reader asked to finish that has not exited by then is killed (ffmpeg blocked reading a pipe
# does not see SIGINT until more data comes); what it had written is still used (finish_partial).
STOP_GRACE_S = 2.0
# Of the spool limit: the open scene is closed here, so its clip frees the spool. The other half
# covers the time the cut takes to act: the detector's look-ahead (75 frames) and one window (50).
CUT_AT = 0.5


class LiveSession:
    def __init__(
        self,
        url: str,
        config: LiveConfig,
        workdir: Path,
        *,
        duration_s: float | None = None,
        probe_timeout_s: float = COUNT_TIMEOUT_S,
    ) -> None:
        if duration_s is not None and duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        self.url = url
        self.config = config
        self.duration_s = duration_s
        self.started = dt.datetime.now(dt.UTC)
        self.source_id = session_source(url, self.started)
        self.rel = session_rel(url, self.started)
        self.spool = Spool(workdir / f"live-{self.started:%H%M%S%f}-{id(self):x}", count_timeout_s=probe_timeout_s)
        self.first_data_utc: dt.datetime | None = None
        self.keep_from = 0  # the span builder's earliest frame a future span can start at
        self.segments_fed = 0  # segments handed to the decoder (the ones it no longer needs on disk)
        self.frames_decoded = 0
        self.scenes_cut = 0  # open scenes closed at the spool limit
        self.cut_requested = False
        self.failure: tuple[str, Reason] | None = None
        self.ended = False  # the reader is gone and every segment is in the spool
        self._pins: collections.Counter[int] = collections.Counter()
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self._lagging = False

    # -- the reader ---------------------------------------------------------------------------------

    async def read(self) -> None:
        """Run the reader until the source ends, times out, is stopped or fills the spool."""
        argv, listing = reader_command(self.url, self.spool.folder, self.config, duration_s=self.duration_s)
        stdin = 0 if self.url == STDIN else asyncio.subprocess.PIPE if listing else asyncio.subprocess.DEVNULL
        try:
            async with children.stream(argv, idle_timeout_s=self.config.read_timeout_s, stdin=stdin) as child:
                if listing is not None:  # the URL, kept off the command line (live.argv.reader_input)
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it failed at once: judged below
                        await child.write(listing)
                    child.close_stdin()
                await self._watch(child)
                done = await child.finish(timeout_s=STOP_GRACE_S)
            await self._add(await self.spool.finish_partial())
            self._judge(done)
        except StreamclipError as exc:  # a tool that fails (a spawn, a time limit) ends this source alone
            if self.failure is None:
                self.failure = (f"{self._name()}: reading stopped: {exc}", exc.kind)
        finally:
            self.ended = True
            self._changed.set()

    def _name(self) -> str:
        return "stdin" if self.url == STDIN else redact(self.url)

    async def _watch(self, child: children.StreamingChild) -> None:
        last_size, last_growth, stopping_since = -1, time.monotonic(), None
        while child.proc.returncode is None:
            try:
                async with asyncio.timeout(POLL_S):
                    await child.proc.wait()
            except TimeoutError:
                pass
            await self._add(await self.spool.poll())
            size, now = self.spool.note_size(), time.monotonic()
            if size != last_size:
                last_size, last_growth = size, now
                if size and self.first_data_utc is None:
                    self.first_data_utc = dt.datetime.now(dt.UTC)
            why = self._why_stop(size, now - last_growth)
            if why is not None and stopping_since is None:
                stopping_since = now
                child.interrupt()
            elif stopping_since is not None and now - stopping_since > STOP_GRACE_S:
                child.kill()
            self._check_lag()

    def _why_stop(self, size: int, idle_s: float) -> str | None:
        limit = self.config.spool_max_mb * 1e6
        if size > limit and self.failure is None:
            self.failure = (
                f"the spool reached live.spool_max_mb ({self.config.spool_max_mb:g} MB): the pipeline fell "
                f"{self.lag_s():.0f} s behind the source",
                Reason.SPOOL_FULL,
            )
        if size > CUT_AT * limit and not self.cut_requested:
            self.cut_requested = True  # the span builder closes the open scene at the next frames
        if idle_s > self.config.read_timeout_s and self.failure is None:
            what = "nothing" if self.spool.finished == 0 and size == 0 else "nothing more"
            self.failure = (f"{redact(self.url)} sent {what} for {self.config.read_timeout_s:g} s", Reason.TIMEOUT)
        if self.failure is not None:
            return self.failure[0]
        return "stopped" if self._stop.is_set() else None

    def _judge(self, done: children.Completed) -> None:
        """Why the source ended, if it is a failure (a sender that stops is the normal end)."""
        if self.failure is not None or self._stop.is_set():
            return
        if self.spool.frames == 0:
            last = stderr_summary(done.stderr) if done.stderr.strip() else "no data"
            name = self._name()
            self.failure = (f"{name}: no video received before the source ended ({last})", _kind_of(done.stderr))
        elif done.returncode not in (0, 255):  # 255: ffmpeg stopped by a signal, after what it read
            self.failure = (f"{redact(self.url)}: reading failed: {stderr_summary(done.stderr)}", Reason.DECODE_ERROR)

    async def _add(self, segments: list[Segment]) -> None:
        for segment in segments:
            log.debug("%s: spooled frames [%d, %d)", self.source_id, segment.first_frame, segment.end_frame)
        if segments:
            self._changed.set()

    def stop(self) -> None:
        """End the source now, as if the sender had stopped: what was read is still processed."""
        self._stop.set()

    # -- the decoder's side -------------------------------------------------------------------------

    async def next_segment(self, index: int) -> Segment | None:
        """The finished segment `index`, waiting for it; None once the source has ended without it."""
        while True:
            found = [s for s in self.spool.segments if s.index == index]
            if found:
                return found[0]
            if self.ended:
                return None
            self._changed.clear()
            await self._changed.wait()

    def lag_s(self) -> float:
        """How far behind live the decoder is: now minus when the segment of the newest decoded frame
        was finished on disk (0 before the first frame and once everything read is decoded)."""
        if self.ended and self.frames_decoded >= self.spool.frames:
            return 0.0
        newest = self.frames_decoded - 1
        for segment in self.spool.segments:
            if segment.first_frame <= newest < segment.end_frame:
                return round(time.monotonic() - segment.arrived_at, 3)
        oldest = self.spool.segments[0] if self.spool.segments else None
        return round(time.monotonic() - oldest.arrived_at, 3) if oldest and newest < 0 else 0.0

    def _check_lag(self) -> None:
        lag = self.lag_s()
        if lag > self.config.max_lag_s and not self._lagging:
            log.warning("%s: %.1f s behind live (live.max_lag_s = %g)", self.source_id, lag, self.config.max_lag_s)
        self._lagging = lag > self.config.max_lag_s

    # -- the span builder's and transcoder's side ---------------------------------------------------

    def pin(self, span: Span) -> None:
        self._pins[span.start_frame] += 1

    def unpin(self, span: Span) -> None:
        self._pins[span.start_frame] -= 1
        if self._pins[span.start_frame] <= 0:
            del self._pins[span.start_frame]
        self.release()

    def release(self) -> None:
        """Delete the segments no clip can need any more."""
        needed = min([self.keep_from, *self._pins])
        self.spool.delete_before(needed, up_to_index=self.segments_fed)

    def close(self) -> None:
        self.spool.remove()

    def record(self) -> dict[str, object]:
        """What the source's record in processed_videos/ says about the session."""
        return {
            "source_url": redact(self.url) if self.url != STDIN else "stdin",
            "session_start": self.started.isoformat(),
            "first_data_utc": self.first_data_utc.isoformat() if self.first_data_utc else None,
            "spool_peak_bytes": self.spool.peak_bytes,
            "scenes_cut_at_spool_limit": self.scenes_cut,
        }

    def clip_fields(self, span: Span) -> dict[str, object]:
        """A clip's wall-clock start (first data received + the clip's start in the stream)."""
        start = self.first_data_utc or self.started
        return {
            "session_start": self.started.isoformat(),
            "wall_clock_start": (start + dt.timedelta(seconds=span.start_s)).isoformat(),
        }


def _kind_of(stderr: str) -> Reason:
    text = stderr.lower()
    if "connection refused" in text or "no route" in text or "name or service" in text or "404" in text:
        return Reason.UNREACHABLE
    if "invalid data" in text or "could not find codec" in text:
        return Reason.NOT_A_VIDEO
    if "timed out" in text or "timeout" in text:
        return Reason.TIMEOUT
    return Reason.UNREACHABLE if text.strip() else Reason.EMPTY


def live_statistics(active: list[LiveSession], peak_bytes: int, scenes_cut: int) -> dict[str, object]:
    """The decoder's live figures: the worst lag now, the spools' size now and at their peak."""
    return {
        "lag_s": max((session.lag_s() for session in active), default=0.0),
        "spool_bytes": sum(session.spool.bytes_on_disk() for session in active),
        "spool_peak_bytes": max([peak_bytes, *(session.spool.peak_bytes for session in active)]),
        "scenes_cut_at_spool_limit": scenes_cut + sum(session.scenes_cut for session in active),
        "live_sources": len(active),
    }


LIVE_KINDS = frozenset({SourceKind.STDIN, SourceKind.STREAM})


def is_live(source: str) -> bool:
    """Whether `source` is read once through a spool (stdin, a network stream), not as a file."""
    try:
        return classify(source) in LIVE_KINDS
    except ValueError:
        return False
