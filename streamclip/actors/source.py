"""Probing a submitted video, shared by the decoder and the fixed-stride spanner."""

from __future__ import annotations

import time

from streamclip.actors.messages import VideoEnd, VideoJob
from streamclip.errors import FFmpegError, SourceError
from streamclip.probe import probe


async def probe_job(job: VideoJob, *, timeout_s: float) -> VideoEnd | None:
    """Fill `job.meta`; on failure return the `VideoEnd` that reports why."""
    started = time.monotonic()
    try:
        job.meta = await probe(job.source, timeout_s=timeout_s)
    except SourceError as exc:
        return VideoEnd(job, error=exc.reason)
    except FFmpegError as exc:
        return VideoEnd(job, error=f"ffprobe failed: {exc}", error_type="FFmpegError")
    finally:
        job.add_time("probe", time.monotonic() - started)
    return None
