"""Probing a submitted video, shared by the decoder and the fixed-stride spanner."""

from __future__ import annotations

import time

from streamclip.actors.messages import VideoEnd, VideoJob
from streamclip.errors import FFmpegError, SourceError, StreamclipError
from streamclip.ffmpeg.probe import probe
from streamclip.live.follow import probe_growing, seek_back_s


def frames_missing(got: float, expected: float) -> bool:
    """Fewer frames than expected by more than a few (3, or 2 % of a long video or clip).

    A damaged file can make ffmpeg exit 0 having decoded or encoded only part of what it should;
    small differences are the rounding of durations and variable frame rates.
    """
    return got < expected - max(3, 0.02 * expected)


async def probe_job(job: VideoJob, *, timeout_s: float) -> VideoEnd | None:
    """Fill `job.meta`; on failure return the `VideoEnd` that reports why."""
    started = time.monotonic()
    try:
        if job.follow_idle_s is None:
            job.meta = await probe(job.source, timeout_s=timeout_s)
        else:
            job.meta = await probe_growing(job.source, timeout_s=timeout_s, idle_s=job.follow_idle_s)
        job.seek_back_s = await seek_back_s(job.source, followed=job.follow_idle_s is not None)
    except SourceError as exc:
        return VideoEnd(job, error=exc.reason, kind=exc.kind)
    except FFmpegError as exc:
        return VideoEnd(job, error=f"ffprobe failed: {exc}", kind=exc.kind)
    except StreamclipError as exc:  # no ffprobe to run: this video fails, the pipeline goes on
        return VideoEnd(job, error=str(exc), kind=exc.kind)
    finally:
        job.add_time("probe", time.monotonic() - started)
    return None
