"""Following a growing file: which containers can be read while written, and noticing a file that
is truncated or replaced while it is read.

A growing file is read by ffmpeg's file protocol with `-follow 1` (at the end it waits for more
instead of stopping) and `-rw_timeout` (a read that waits longer ends the input): the decoder
finishes a followed file once it has not grown for `limits.follow_idle_s`. ffmpeg's file protocol
keeps reading its open descriptor, so a file truncated (reads return nothing), replaced (the old
inode is read to its end) or written again in place (read on from the same offset) is not noticed
by ffmpeg: `watch_pump` looks at the path while the decoder reads (its inode, its size, and the last
bytes it had) and ends the video with `Reason.SOURCE_CHANGED` when any of these happens.

Only containers whose data is readable before they are finished can be followed: MPEG-TS,
Matroska/WebM, FLV and fragmented MP4. A classic MP4 has its index (`moov`) at the end, or is
rewritten at the end to put it in front (`+faststart`): it is told apart by its boxes, not its
name, and is waited for until complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import struct
import time
from collections.abc import Coroutine
from typing import Any

import msgspec

from streamclip.actors.messages import VideoEnd, VideoJob
from streamclip.config import PipelineConfig
from streamclip.contract.types import VideoMetadata
from streamclip.errors import Reason, SourceError, stderr_summary
from streamclip.ffmpeg.children import Completed
from streamclip.ffmpeg.probe import probe

# ffmpeg 5.1's MPEG-TS seek lands on the first keyframe *after* the target (a clip starting
# between keyframes came out short, or empty), so a clip of an MPEG-TS or followed source seeks
# this far before its span and drops the rest exactly (output-side -ss). A source whose keyframes
# are further apart makes a clip come out short, and the transcoder says so.
SEEK_BACK_S = 10.0
CHECK_EVERY_S = 0.25  # how often a followed file is looked at for truncation or replacement
CHECKED_BYTES = 4096  # the last bytes read of a followed file, compared at each look ...
HEADER_BYTES = 64 * 1024  # ... when they lie past this: muxers rewrite their header when they finish
_TS_PACKET = 188
# ffmpeg's last words when `-rw_timeout` ends a followed input: how it finishes, not a fault.
_IDLE_END = ("Input/output error", "Last message repeated")


def follow_idle_s(config: PipelineConfig) -> float:
    """The idle time that finishes a followed file; following needs the scene detector (fixed
    stride cuts from the duration, which a growing file does not have yet)."""
    if config.spans.mode != "scene":
        raise ValueError("following a growing file needs spans.mode = 'scene' (fixed stride needs its duration)")
    return config.limits.follow_idle_s


class Container(enum.StrEnum):
    MPEGTS = "mpegts"
    MATROSKA = "matroska"  # WebM too
    FLV = "flv"
    FRAGMENTED_MP4 = "fragmented_mp4"
    MP4 = "mp4"  # classic: readable only once finished
    UNKNOWN = "unknown"  # not (yet) recognisable: too few bytes, or another container


FOLLOWABLE = frozenset({Container.MPEGTS, Container.MATROSKA, Container.FLV, Container.FRAGMENTED_MP4})


def container_of(path: str | os.PathLike[str]) -> Container:
    """The container of a (possibly growing) file, by its first bytes and, for ISO BMFF, its boxes
    (blocking: run it in a thread)."""
    with open(path, "rb") as handle:
        head = handle.read(2 * _TS_PACKET + 8)
        if head.startswith(b"\x1a\x45\xdf\xa3"):
            return Container.MATROSKA
        if head.startswith(b"FLV\x01"):
            return Container.FLV
        if _is_transport_stream(head):
            return Container.MPEGTS
        if head[4:8] == b"ftyp":
            return _iso_bmff_kind(handle)
    return Container.UNKNOWN


def can_follow(path: str | os.PathLike[str]) -> bool:
    """`split --follow`: read this file as it grows, unless it is a classic MP4 (complete, or not
    readable before it is) or cannot be opened (the normal path says why)."""
    try:
        return container_of(path) is not Container.MP4
    except OSError:
        return False


def _is_transport_stream(head: bytes) -> bool:
    """TS packets (188 bytes, sync byte 0x47) or M2TS ones (a 4-byte time code before each)."""
    for offset, step in ((0, _TS_PACKET), (4, _TS_PACKET + 4)):
        if len(head) > offset + step and head[offset] == head[offset + step] == 0x47:
            return True
    return False


def _iso_bmff_kind(handle: Any) -> Container:
    """Walk the top-level boxes: `moof`, or a `moov` holding `mvex`, is fragmented; `mdat` before
    any `moov` (index at the end) or a `moov` without `mvex` is a classic MP4. A box cut short (a
    file caught while written) or malformed (a size smaller than its header) makes it unknown."""
    size = os.fstat(handle.fileno()).st_size
    offset = 0
    while offset + 8 <= size:
        box = _box_at(handle, offset)
        if box is None:
            return Container.UNKNOWN
        kind, length, header = box
        end = size if length == 0 else min(offset + length, size)  # 0: the box runs to the end of the file
        if kind == b"moof":
            return Container.FRAGMENTED_MP4
        if kind == b"moov":
            if b"mvex" in handle.read(end - offset - header):
                return Container.FRAGMENTED_MP4
            return Container.MP4 if length == 0 or offset + length <= size else Container.UNKNOWN  # cut short
        if kind == b"mdat" or length == 0:  # data before the index, or a last box "to the end"
            return Container.MP4
        offset += length
    return Container.UNKNOWN


def _box_at(handle: Any, offset: int) -> tuple[bytes, int, int] | None:
    """(type, size, header size) of the box at `offset`; None when its header is cut short or its
    size is impossible (below its header's, other than 0 for "to the end")."""
    handle.seek(offset)
    head = handle.read(8)
    if len(head) < 8:
        return None
    length, kind = struct.unpack(">I4s", head)
    header = 8
    if length == 1:  # a 64-bit size follows the type
        large = handle.read(8)
        if len(large) < 8:
            return None
        length, header = struct.unpack(">Q", large)[0], 16
    if length != 0 and length < header:
        return None
    return kind, length, header


async def seek_back_s(path: str, *, followed: bool) -> float:
    """How far before a span its clip is cut from (`SEEK_BACK_S` for MPEG-TS and followed files)."""
    if followed:
        return SEEK_BACK_S
    try:
        container = await asyncio.to_thread(container_of, path)
    except OSError:
        return 0.0
    return SEEK_BACK_S if container is Container.MPEGTS else 0.0


async def probe_growing(path: str, *, timeout_s: float, idle_s: float) -> VideoMetadata:
    """Probe a followed file's first seconds; while they do not probe yet (a file just created, a
    header still arriving), try again as long as it grows, giving up after `idle_s` without growth."""
    last_size, grew_at = -1, time.monotonic()
    while True:
        try:
            return await probe(path, timeout_s=timeout_s, growing=True)
        except SourceError as exc:
            if exc.kind in (Reason.MISSING, Reason.PERMISSION):
                raise
            size = (await asyncio.to_thread(os.stat, path)).st_size
            if size != last_size:
                last_size, grew_at = size, time.monotonic()
            elif time.monotonic() - grew_at >= idle_s:
                raise
        await asyncio.sleep(CHECK_EVERY_S)


class FollowedFile:
    """The identity (device, inode), the largest size seen and the last bytes read so far of a file
    being followed: a file truncated, replaced, or written again in place (same inode, its size never
    seen to shrink) is told from one that only grows. The bytes checked are the last `CHECKED_BYTES`
    seen, never the first `HEADER_BYTES`, which muxers rewrite when they finish (Matroska's segment
    size and duration, FLV's metadata)."""

    def __init__(self, path: str) -> None:
        self.path = path
        st = os.stat(path)
        self.identity = (st.st_dev, st.st_ino)
        self.size = 0
        self.seen = b""  # the bytes at [size - len(seen), size)
        self._look(st.st_size)

    def change(self) -> str | None:
        """Why the file can no longer be followed (truncated, replaced, rewritten, removed), or None."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "the file was removed while it was followed"
        except OSError as exc:
            return f"the file cannot be looked at while it is followed: {exc.strerror or exc}"
        if (st.st_dev, st.st_ino) != self.identity:
            return "the file was replaced by another one (new inode) while it was followed"
        if st.st_size < self.size:
            return f"the file was truncated from {self.size} to {st.st_size} bytes while it was followed"
        try:
            return self._look(st.st_size)
        except OSError as exc:
            return f"the file cannot be read while it is followed: {exc.strerror or exc}"

    def _look(self, size: int) -> str | None:
        """Check the bytes seen last time; then remember the last ones of the file as it is now."""
        start = max(HEADER_BYTES, size - CHECKED_BYTES)
        with open(self.path, "rb") as handle:
            if self.seen:
                handle.seek(self.size - len(self.seen))
                if handle.read(len(self.seen)) != self.seen:
                    return "the file was rewritten in place (bytes already read changed) while it was followed"
            handle.seek(start)
            self.seen = handle.read(max(0, size - start))
        self.size = max(self.size, size)
        if len(self.seen) < size - start:  # read short: the file shrank since stat; looked at again next time
            self.seen = b""
        return None


async def watch_pump(pump: Coroutine[Any, Any, None], followed: FollowedFile) -> str | None:
    """Run `pump` (the decoder reading a followed file) while looking at the file; if it is
    truncated, replaced or removed, stop the pump and return why. An error of the pump propagates."""
    task = asyncio.ensure_future(pump)
    try:
        while True:
            done, _ = await asyncio.wait([task], timeout=CHECK_EVERY_S)
            why = await asyncio.to_thread(followed.change)
            if why is not None or done:
                break
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if why is None:
        task.result()  # the pump's own error, if it failed
    return why


def idle_end_removed(stderr: str) -> str:
    """ffmpeg's stderr without the lines that only say a followed input stopped growing."""
    return "\n".join(line for line in stderr.splitlines() if not any(text in line for text in _IDLE_END))


def check_finished(job: VideoJob, done: Completed, size: int) -> VideoEnd | None:
    """A followed file has no frame count to compare with: it is complete when ffmpeg ended cleanly
    once it stopped growing. Its metadata becomes what was read (frames, duration, size)."""
    assert job.meta is not None
    rest = idle_end_removed(done.stderr)
    last_line = stderr_summary(rest) if rest.strip() else ""
    if done.returncode != 0:
        error = f"decoding failed after {job.frames_decoded} frames of a followed file: {last_line}"
        return VideoEnd(job, error=error, kind=Reason.DECODE_ERROR)
    if job.frames_decoded == 0:
        why = last_line or "it did not grow for long enough to hold one"
        return VideoEnd(job, error=f"no frame could be decoded: {why}", kind=Reason.INCOMPLETE)
    job.meta = finished_metadata(job.meta, job.frames_decoded, size)
    if last_line:
        job.errors["decode"] = last_line
    return None


def finished_metadata(meta: VideoMetadata, frames: int, size: int) -> VideoMetadata:
    """A followed file's metadata once it is finished: what was read, not what the first seconds said."""
    return msgspec.structs.replace(meta, num_frames=frames, duration_s=frames / meta.fps, size=size)
