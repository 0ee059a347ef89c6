"""Small JPEGs for the review pages, made once with ffmpeg and reused.

A clip's poster is its middle frame, named by the clip's uuid (the same uuid is the same clip, so
an existing poster is never made again). A video's strip is `STRIP_FRAMES` frames evenly spread
over the source, kept while the source's size and mtime stay the same (a stamp file beside them).
Each JPEG is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path

from streamclip.errors import StreamclipError
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import source_input
from streamclip.sources import scrub
from streamclip.storage import remote

log = logging.getLogger(__name__)

STRIP_FRAMES = 10
STRIP_WIDTH = 160
POSTER_WIDTH = 320
JPEG_QUALITY = "6"  # ffmpeg's -q:v for mjpeg: 2 best .. 31 worst; 6 keeps a 320 px poster near 10 KB
TIMEOUT_S = 60.0


Source = Path | str  # a local file, or an `s3://` / `http(s)://` object read through a (presigned) URL


def _input(source: Source) -> list[str]:
    """The same input options as the pipeline's: the file protocol and single-file demuxers only
    (a playlist named like a video never makes ffmpeg read another file), or a remote file's URL
    (presigned here, never logged: errors name `source`)."""
    return source_input(str(source))


def _argv(source: Source, at_s: float, width: int, target: Path) -> list[str]:
    return [
        children.ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error",
        "-ss", f"{max(at_s, 0.0):.3f}", *_input(source),
        "-map", "0:v:0", "-frames:v", "1", "-vf", f"scale={width}:-2",
        "-q:v", JPEG_QUALITY, "-f", "image2", "-y", str(target),
    ]  # fmt: skip


async def grab_frame(source: Source, at_s: float, width: int, target: Path) -> bool:
    """One frame of `source` at `at_s` as a JPEG at `target`; False (logged) when ffmpeg cannot."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.tmp.jpg")
    try:
        await children.demuxers_ready(again=False)
        await children.run(_argv(source, at_s, width, tmp), timeout_s=TIMEOUT_S)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            return False
        os.replace(tmp, target)
        return True
    except StreamclipError as exc:
        log.info("review: no frame of %s at %.2f s: %s", source, at_s, scrub(str(exc)))
        return False
    finally:
        tmp.unlink(missing_ok=True)


async def poster(clip_file: Source, duration_s: float, target: Path) -> bool:
    """The middle frame of a clip file or object (made only when `target` is missing)."""
    if target.is_file():
        return True
    if isinstance(clip_file, Path) and not clip_file.is_file():
        return False
    return await grab_frame(clip_file, duration_s / 2, POSTER_WIDTH, target)


def strip_times(duration_s: float, count: int = STRIP_FRAMES) -> list[float]:
    """The middles of `count` equal parts of the video."""
    return [duration_s * (k + 0.5) / count for k in range(count)]


async def strip(source: Source, duration_s: float, folder: Path, limit: asyncio.Semaphore) -> list[tuple[float, Path]]:
    """The strip of `source` in `folder` (remade when the source changed): (time, file) pairs."""
    times = strip_times(duration_s)
    files = [folder / f"strip-{k:02d}.jpg" for k in range(len(times))]
    stamp = folder / ".source"
    version = await asyncio.to_thread(_version, source)
    if version is None:  # gone or unreachable: keep what was made
        return [(t, f) for t, f in zip(times, files, strict=True) if f.is_file()]
    expected = f"{version}:{duration_s:.3f}"
    if _read(stamp) != expected or not all(f.is_file() for f in files):

        async def one(at_s: float, target: Path) -> bool:
            async with limit:
                return await grab_frame(source, at_s, STRIP_WIDTH, target)

        async with asyncio.TaskGroup() as group:
            for at_s, target in zip(times, files, strict=True):
                group.create_task(one(at_s, target))
        stamp.write_text(expected)
    return [(t, f) for t, f in zip(times, files, strict=True) if f.is_file()]


def _version(source: Source) -> str | None:
    """What changes when the source does: a file's size and mtime, an object's size and ETag (a
    HEAD), an HTTP(S) file's size; None when it cannot be read (blocking)."""
    if isinstance(source, str) and remote.is_remote(source):
        try:
            return remote.version(source)
        except StreamclipError:
            return None
    try:
        st = Path(source).stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
