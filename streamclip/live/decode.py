"""Decoding a live source: its reader beside it, its spool's segments fed to one ffmpeg in order.

Used by the `Decoder` actor for a job with a `LiveSession`. The reader runs as a task of its own
and only writes to disk, so when the detector is slow the frames wait in the spool, not in memory,
and the source is never paused. There is no known frame count: the completeness check of files
does not apply; the source's end is the reader's (sender stopped, timeout, `--duration`, a signal).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec

from streamclip.actors.messages import VideoEnd, VideoJob
from streamclip.errors import FFmpegError, Reason, StreamclipError, stderr_summary
from streamclip.ffmpeg import children
from streamclip.ffmpeg.probe import probe
from streamclip.live.argv import decode_argv
from streamclip.live.session import LiveSession
from streamclip.runtime.waiting import wait_out

Pump = Callable[[VideoJob, children.StreamingChild], Awaitable[None]]


async def decode_live(
    job: VideoJob, pump: Pump, *, threads: int, idle_s: float, probe_timeout_s: float
) -> VideoEnd | None:
    """Read and decode `job`'s live source; `pump` moves the decoded frames on (the decoder's own)."""
    session = job.live
    assert session is not None
    reader = asyncio.create_task(session.read(), name=f"streamclip-reader-{session.rel}")
    try:
        failed = await _decode(job, session, pump, threads=threads, idle_s=idle_s, probe_timeout_s=probe_timeout_s)
    finally:
        session.stop()  # a decoder that ends first (clip limit, error, cancel) ends the reader too
        await wait_out(reader)
    if reader.exception() is not None:
        raise reader.exception()  # type: ignore[misc]
    if failed is None and session.failure is not None:
        reason, kind = session.failure
        failed = VideoEnd(job, error=f"{reason} (after {job.frames_decoded} frames)", kind=kind)
    _final_meta(job)
    return failed


async def _decode(
    job: VideoJob, session: LiveSession, pump: Pump, *, threads: int, idle_s: float, probe_timeout_s: float
) -> VideoEnd | None:
    first = await session.next_segment(0)
    if first is None:
        reason, kind = session.failure or ("the source ended before sending any video", Reason.EMPTY)
        return VideoEnd(job, error=reason, kind=kind)
    try:
        meta = await probe(first.path, timeout_s=probe_timeout_s)
    except StreamclipError as exc:  # a bad stream, or ffprobe failing (a time limit, a spawn)
        return VideoEnd(job, error=f"the stream's first seconds cannot be read: {exc}", kind=exc.kind)
    job.meta = msgspec.structs.replace(meta, path=job.source, size=0, num_frames=0, duration_s=0.0)
    try:
        async with children.stream(
            decode_argv(threads=threads), idle_timeout_s=idle_s, stdin=asyncio.subprocess.PIPE
        ) as child:
            feeder = asyncio.create_task(_feed(session, child), name=f"streamclip-feed-{session.rel}")
            try:
                await _pump_counting(job, session, child, pump)
            finally:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError, BrokenPipeError, ConnectionResetError):
                    await feeder
            if job.stop_decoding.is_set():
                return None
            done = await child.finish()
    except FFmpegError as exc:
        return VideoEnd(job, error=f"decoding stalled after {job.frames_decoded} frames: {exc}", kind=exc.kind)
    except StreamclipError as exc:
        return VideoEnd(job, error=str(exc), kind=exc.kind)
    except OSError as exc:  # a spooled segment gone before it was fed
        return VideoEnd(job, error=f"the spool could not be read: {exc}", kind=Reason.OTHER)
    if done.returncode != 0 and session.failure is None:
        summary = stderr_summary(done.stderr)
        return VideoEnd(
            job, error=f"decoding failed after {job.frames_decoded} frames: {summary}", kind=Reason.DECODE_ERROR
        )
    return None


async def _pump_counting(job: VideoJob, session: LiveSession, child: children.StreamingChild, pump: Pump) -> None:
    watcher = asyncio.create_task(_follow_count(job, session))
    try:
        await pump(job, child)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        session.frames_decoded = job.frames_decoded


async def _follow_count(job: VideoJob, session: LiveSession) -> None:
    """Keep the session's decoded count (for the lag) and the stop flag (clip limit) current."""
    while True:
        session.frames_decoded = job.frames_decoded
        if job.stop_decoding.is_set():
            session.stop()
        await asyncio.sleep(0.1)


async def _feed(session: LiveSession, child: children.StreamingChild) -> None:
    """Every finished segment's bytes, in order, into the decoder; then end its input."""
    index = 0
    while (segment := await session.next_segment(index)) is not None:
        data = await asyncio.to_thread(segment.path.read_bytes)
        await child.write(data)
        index += 1
        session.segments_fed = index
    child.close_stdin()


def _final_meta(job: VideoJob) -> None:
    """The record's metadata: the frames read and their duration at the nominal rate."""
    if job.meta is not None and job.meta.fps > 0:
        duration = round(job.frames_decoded / job.meta.fps, 3)
        job.meta = msgspec.structs.replace(job.meta, num_frames=job.frames_decoded, duration_s=duration)
