"""Decoder: one ffmpeg child per video writing 48x27 RGB24 frames to a pipe, read in chunks.

It reads the next chunk only once the last one is in the frames channel, so a full pipeline
leaves the pipe unread, the pipe fills, and ffmpeg blocks: backpressure reaches the OS process.
The channel serves waiting senders in turn, so videos decoded at once share it fairly.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from streamclip.actors import pynvc_decode
from streamclip.actors.messages import FrameChunk, VideoEnd, VideoJob
from streamclip.actors.pools import VideoPool
from streamclip.actors.source import frames_missing, probe_job
from streamclip.config import DecodeConfig, LimitsConfig
from streamclip.errors import FFmpegError, Reason, StreamclipError, stderr_summary
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import DETECTOR_HEIGHT, DETECTOR_WIDTH, decode_argv
from streamclip.live import follow as followed
from streamclip.live.decode import decode_live
from streamclip.live.session import live_statistics
from streamclip.runtime.channel import Channel

FRAME_BYTES = DETECTOR_WIDTH * DETECTOR_HEIGHT * 3
LIVE_CHUNK_FRAMES = 5

DecoderOut = FrameChunk | VideoEnd
log = logging.getLogger(__name__)


class Decoder(VideoPool[DecoderOut]):
    name = "decoder"

    def __init__(
        self,
        inbox: Channel[VideoJob],
        outbox: Channel[DecoderOut],
        config: DecodeConfig,
        limits: LimitsConfig,
        *,
        threads: int = 1,
        device_frames: bool = False,
    ) -> None:
        """`device_frames`: with backend "pynvc", frames stay on the GPU (the detector runs there)."""
        super().__init__(inbox, outbox, workers=config.max_videos)
        self.threads = threads
        self.device_frames = device_frames
        self.config = config
        self.limits = limits
        self.frames_decoded = 0
        self._decoding: dict[int, VideoJob] = {}
        self.live_peak_bytes = 0  # of the live sources that ended
        self.live_scenes_cut = 0

    async def handle(self, item: VideoJob) -> None:
        if item.live is not None:
            await self._handle_live(item)
            return
        failed = await probe_job(item, timeout_s=self.limits.probe_timeout_s)
        if failed is None:
            started = time.monotonic()
            self._decoding[item.id] = item
            try:
                failed = await self._decode(item)
            finally:
                del self._decoding[item.id]
            item.add_time("decode_wall", time.monotonic() - started)
        await self.emit(failed or VideoEnd(item))

    async def _handle_live(self, job: VideoJob) -> None:
        assert job.live is not None
        started = time.monotonic()
        self._decoding[job.id] = job
        try:
            failed = await decode_live(
                job, self._pump, threads=self.threads, probe_timeout_s=self.limits.probe_timeout_s,
                idle_s=self.limits.decode_idle_s + job.live.config.read_timeout_s,
            )  # fmt: skip
        finally:
            del self._decoding[job.id]
            self.live_peak_bytes = max(self.live_peak_bytes, job.live.spool.peak_bytes)
            self.live_scenes_cut += job.live.scenes_cut
        job.add_time("decode_wall", time.monotonic() - started)
        await self.emit(failed or VideoEnd(job))

    async def _decode(self, job: VideoJob) -> VideoEnd | None:
        assert job.meta is not None
        if self.config.backend == "pynvc":
            rates = (
                None
                if "://" in job.source
                else await pynvc_decode.read_frame_rates(job, timeout_s=self.limits.probe_timeout_s)
            )
            unsuitable = pynvc_decode.pynvc_unsuitable(job, rates)
            if unsuitable is None:
                return await self._decode_pynvc(job)
            log.warning("%s: %s: decoded by ffmpeg on the CPU, not PyNvVideoCodec", job.source, unsuitable)
        follow = job.follow_idle_s
        try:
            argv = decode_argv(
                job.meta, hwaccel=self.config.backend == "nvdec", threads=self.threads, follow_idle_s=follow
            )
            idle_s = self.limits.decode_idle_s + (follow or 0.0)  # a followed file may be silent that long
            async with children.stream(argv, idle_timeout_s=idle_s) as child:
                if follow is None:
                    await self._pump(job, child)
                else:
                    watched = followed.FollowedFile(job.source)
                    changed = await followed.watch_pump(self._pump(job, child), watched)
                    if changed is not None:  # the child is killed on leaving the block
                        return VideoEnd(job, error=changed, kind=Reason.SOURCE_CHANGED)
                if job.stop_decoding.is_set():
                    return None  # enough clips: the child is killed on leaving the block
                done = await child.finish()
        except FFmpegError as exc:
            return VideoEnd(job, error=f"decoding stalled after {job.frames_decoded} frames: {exc}", kind=exc.kind)
        except StreamclipError as exc:  # no ffmpeg to run: this video fails, the pipeline goes on
            return VideoEnd(job, error=str(exc), kind=exc.kind)
        except OSError as exc:  # a followed file gone before it could be looked at
            return VideoEnd(job, error=f"the file cannot be followed: {exc}", kind=Reason.MISSING)
        if follow is not None:
            return followed.check_finished(job, done, watched.size)
        return _check_complete(job, done)

    async def _decode_pynvc(self, job: VideoJob) -> VideoEnd | None:
        failed = await pynvc_decode.decode_pynvc(
            job, self._emit_frames, chunk_frames=self.config.chunk_frames, to_host=not self.device_frames
        )
        if failed is not None:
            error, kind = failed
            return VideoEnd(job, error=error, kind=kind)
        if job.stop_decoding.is_set():
            return None
        return _check_complete(job, children.Completed([], 0, b"", ""))

    async def _emit_frames(self, job: VideoJob, frames: Any) -> None:
        """One chunk of `[n, 27, 48, 3]` frames (numpy, or a CUDA tensor from "pynvc") on to the detector."""
        count = len(frames)
        await self.emit(FrameChunk(job, job.frames_decoded, frames))
        job.frames_decoded += count
        self.frames_decoded += count

    async def _pump(self, job: VideoJob, child: children.StreamingChild) -> None:
        # A live source's frames go on in small chunks: a chunk waits for its last frame to arrive.
        chunk_frames = min(self.config.chunk_frames, LIVE_CHUNK_FRAMES) if job.live else self.config.chunk_frames
        chunk_bytes = FRAME_BYTES * chunk_frames
        while not job.stop_decoding.is_set():
            data = await child.read_exactly(chunk_bytes)
            count = len(data) // FRAME_BYTES
            if count:
                frames = np.frombuffer(data[: count * FRAME_BYTES], np.uint8)
                await self._emit_frames(job, frames.reshape(count, DETECTOR_HEIGHT, DETECTOR_WIDTH, 3))
            if len(data) < chunk_bytes:
                return

    def statistics(self) -> dict[str, object]:
        stats = super().statistics()
        stats["frames_decoded"] = self.frames_decoded
        stats["videos"] = {
            job.source: (job.frames_decoded, job.meta.num_frames if job.meta else 0) for job in self._decoding.values()
        }
        live = [job.live for job in self._decoding.values() if job.live is not None]
        stats.update(live_statistics(live, self.live_peak_bytes, self.live_scenes_cut))
        return stats


def _check_complete(job: VideoJob, done: children.Completed) -> VideoEnd | None:
    """A damaged file can make ffmpeg exit 0 with a fraction of the frames: compare with the probe."""
    assert job.meta is not None
    expected, got = job.meta.num_frames, job.frames_decoded
    last_line = stderr_summary(done.stderr) if done.stderr.strip() else ""
    if done.returncode != 0:
        return VideoEnd(
            job,
            error=f"decoding failed after {got} of {expected} frames: {last_line}",
            kind=Reason.DECODE_ERROR,
        )
    if got == 0 and expected > 0:
        return VideoEnd(
            job, error=f"no frame could be decoded: {last_line or 'damaged video data'}", kind=Reason.INCOMPLETE
        )
    if frames_missing(got, expected):
        reason = f"decoded only {got} of {expected} frames: file truncated or damaged"
        return VideoEnd(job, error=f"{reason} ({last_line})" if last_line else reason, kind=Reason.INCOMPLETE)
    if last_line:
        job.errors["decode"] = last_line
    return None
