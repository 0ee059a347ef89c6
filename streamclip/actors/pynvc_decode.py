"""`decode.backend = "pynvc"`: a video decoded by NVDEC through PyNvVideoCodec into GPU memory,
scaled to 48x27 there, and handed to the detector as CUDA tensors (DLPack, no host copy).

PyNvVideoCodec (the `gpu` extra; API of its 2.x documentation): a `ThreadedDecoder(path,
buffer_size=…, gpu_id=0, use_device_memory=True, output_color_type=OutputColorType.RGB)`
decodes ahead in a background thread (stopped by `end()`); `get_batch_frames(n)`, n at most the
buffer size, returns up to n frames in display order (fewer at the end, none after it), each a
DLPack producer of `[H, W, 3]` uint8 RGB (interleaved, HWC) in device memory, valid until the next
fetch (as the 2.2.4 wheel's ThreadedDecoder.py and its samples' `convert_frames_to_torch` show).
The fetch blocks, so it runs off the event loop, together with the hand-off and the resize
(`streamclip.detector.cuda`), before the next fetch.

Frame indices are the CPU decoder's: that decoder outputs constant rate at the average frame
rate, so frame i is at i/fps; NVDEC gives the coded frames in display order, which is the same
sequence only on a constant-frame-rate source. Sources where the two could differ are decoded
by ffmpeg instead, with the reason logged (`pynvc_unsuitable`): variable frame rate (r_frame_rate
differs from avg_frame_rate), rotation (ffmpeg rotates, NVDEC does not), high bit depth, codecs
NVDEC does not take, remote and growing sources.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

from streamclip.actors.messages import VideoJob
from streamclip.contract.types import VideoMetadata
from streamclip.errors import Reason
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import local_input

log = logging.getLogger(__name__)
NVDEC_CODECS = frozenset({"h264", "hevc", "av1", "vp9", "vp8", "mpeg2video"})

Emit = Callable[[VideoJob, Any], Awaitable[None]]  # (job, [n, 27, 48, 3] uint8 frames) -> sent on


def frame_rates_argv(path: str) -> list[str]:
    """ffprobe: `r_frame_rate,avg_frame_rate` of the first video stream, one line."""
    return [children.ffprobe_binary(), "-hide_banner", "-v", "error", "-select_streams", "v:0",
            "-show_entries", "stream=r_frame_rate,avg_frame_rate", "-of", "csv=p=0",
            *local_input(path)]  # fmt: skip


def constant_rate(rates_line: str) -> bool:
    """True when ffprobe's `r_frame_rate,avg_frame_rate` agree (to 0.1 %): a constant-rate stream."""
    try:
        real, average = (Fraction(part.strip()) for part in rates_line.strip().split(",")[:2])
    except (ValueError, ZeroDivisionError):
        return False
    return average > 0 and abs(real - average) <= average / 1000


def pynvc_unsuitable(job: VideoJob, rates_line: str | None) -> str | None:
    """Why PyNvVideoCodec would not give this source the CPU decoder's frames (None: it would)."""
    meta: VideoMetadata | None = job.meta
    assert meta is not None
    if job.live is not None or job.follow_idle_s is not None:
        return "a live or growing source"
    if "://" in job.source:
        return "a remote source"
    if meta.video_codec not in NVDEC_CODECS:
        return f"codec {meta.video_codec} is not one NVDEC decodes here"
    if meta.is_10_bit:
        return f"{meta.pixel_format} is high bit depth"
    if meta.rotation:
        return f"rotated {meta.rotation} degrees (NVDEC does not rotate)"
    if rates_line is None or not constant_rate(rates_line):
        return "variable frame rate (frame i would not be at i/fps)"
    return None


async def read_frame_rates(job: VideoJob, *, timeout_s: float) -> str | None:
    done = await children.run(frame_rates_argv(job.source), timeout_s=timeout_s, check=False)
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def open_decoder(path: str, *, buffer_frames: int) -> Any:
    import PyNvVideoCodec as nvc  # the `gpu` extra

    return nvc.ThreadedDecoder(
        path, buffer_size=buffer_frames, gpu_id=0, use_device_memory=True, output_color_type=nvc.OutputColorType.RGB
    )


def next_chunk(decoder: Any, count: int, *, to_host: bool) -> Any:
    """Up to `count` frames, scaled to 48x27 on the GPU, or None at the end. On a worker thread."""
    from streamclip.detector.cuda import frames_from_dlpack, resize_for_detector

    frames = decoder.get_batch_frames(count)
    if not frames:
        return None
    small = resize_for_detector(frames_from_dlpack(frames, planar=False))
    return small.cpu().numpy() if to_host else small


async def decode_pynvc(job: VideoJob, emit: Emit, *, chunk_frames: int, to_host: bool) -> tuple[str, Reason] | None:
    """Decode `job` with PyNvVideoCodec, emitting chunks of frames; an error and its kind, or None."""
    try:
        decoder = await asyncio.to_thread(open_decoder, job.source, buffer_frames=2 * chunk_frames)
    except Exception as exc:
        return f"PyNvVideoCodec could not open the video: {exc}", Reason.DECODE_ERROR
    try:
        while not job.stop_decoding.is_set():
            chunk = await asyncio.to_thread(next_chunk, decoder, chunk_frames, to_host=to_host)
            if chunk is None:
                return None
            await emit(job, chunk)
    except Exception as exc:
        return f"PyNvVideoCodec failed after {job.frames_decoded} frames: {exc}", Reason.DECODE_ERROR
    finally:
        await asyncio.to_thread(close_decoder, decoder)
    return None


def close_decoder(decoder: Any) -> None:
    """Stop the decoder's prefetching thread (`end()`), releasing its surfaces."""
    try:
        decoder.end()
    except Exception as exc:  # closing a failed decoder must not hide why it failed
        log.debug("PyNvVideoCodec decoder did not end cleanly: %s", exc)
