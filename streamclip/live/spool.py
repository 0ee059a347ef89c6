"""The spool: a live source's packets on local disk, in short MPEG-TS segments, until no clip needs them.

The reader (an ffmpeg child) writes `seg000000.ts`, `seg000001.ts`, … and appends each one to a
CSV list when it is finished. `Spool.poll` reads what was appended to the list since its last
look (never the whole list again: a stream of a month lists millions of segments), picks the
finished segments up in order and counts their video packets, which numbers their frames (the
decoder decodes every packet to one frame and drops none before the first keyframe, the reader
having dropped those). Segments are deleted from the front as soon as no clip can still need them
(`delete_before`); what the spool holds in memory is the segments on disk, not its history.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from streamclip.ffmpeg import children
from streamclip.live.argv import SEGMENT_LIST, count_packets_argv

COUNT_TIMEOUT_S = 30.0  # the default; a pipeline gives its `limits.probe_timeout_s`


@dataclass(frozen=True)
class Segment:
    """One finished spool segment: frames `[first_frame, first_frame + frames)` of the stream."""

    index: int
    path: Path
    first_frame: int
    frames: int
    size: int
    arrived_at: float  # time.monotonic() when it was seen finished

    @property
    def end_frame(self) -> int:
        return self.first_frame + self.frames


Counter = Callable[[Path], Awaitable[int]]  # a finished segment -> the frames it holds


class Spool:
    def __init__(self, folder: Path, *, count_timeout_s: float = COUNT_TIMEOUT_S, count: Counter | None = None) -> None:
        self.folder = folder
        self.count_timeout_s = count_timeout_s
        self._count = count or self._count_frames
        folder.mkdir(parents=True, exist_ok=True)
        self.segments: list[Segment] = []  # finished and not deleted yet, in order
        self.frames = 0  # frames in every finished segment so far (deleted ones included)
        self.finished = 0  # segments finished so far
        self.peak_bytes = 0
        self.list_bytes_read = 0  # of the segment list: each byte is read once
        self._listed: collections.deque[str] = collections.deque()  # listed, not yet added
        self._last_listed = -1  # the number in the name of the last segment listed

    async def poll(self) -> list[Segment]:
        """The segments finished since the last call, counted and in order."""
        self._listed.extend(self._appended())
        new: list[Segment] = []
        while self._listed:
            new.append(await self._add(self.folder / self._listed[0]))
            self._listed.popleft()
        self.note_size()
        return new

    async def finish_partial(self) -> list[Segment]:
        """After the reader is gone: a segment it was writing when stopped, if it holds any frame."""
        new = await self.poll()
        unlisted = [(n, p) for p in self.folder.glob("seg*.ts") if (n := _number(p.name)) > self._last_listed]
        for _, path in sorted(unlisted):
            new.append(await self._add(path))
        return [segment for segment in new if segment.frames or self._drop(segment)]

    def covering(self, start_frame: int, end_frame: int) -> list[Segment]:
        """The finished segments holding frames `[start_frame, end_frame)`, in order."""
        found = [s for s in self.segments if s.first_frame < end_frame and s.end_frame > start_frame]
        if not found or found[0].first_frame > start_frame or found[-1].end_frame < end_frame:
            raise LookupError(f"frames {start_frame}-{end_frame} are not in the spool (already deleted?)")
        return found

    def delete_before(self, frame: int, *, up_to_index: int) -> int:
        """Delete the segments that end at or before `frame` and whose index is below `up_to_index`
        (those the decoder has read); returns how many were deleted."""
        keep = [s for s in self.segments if s.end_frame > frame or s.index >= up_to_index]
        for segment in self.segments:
            if segment not in keep:
                segment.path.unlink(missing_ok=True)
        deleted = len(self.segments) - len(keep)
        self.segments = keep
        return deleted

    def bytes_on_disk(self) -> int:
        """The spool's size now: finished segments and the one being written."""
        total = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size if entry.name.endswith(".ts") else 0
        return total

    def note_size(self) -> int:
        size = self.bytes_on_disk()
        self.peak_bytes = max(self.peak_bytes, size)
        return size

    def remove(self) -> None:
        """The source is done and its clips too: the whole spool goes."""
        self.segments = []
        shutil.rmtree(self.folder, ignore_errors=True)

    def _appended(self) -> list[str]:
        """The names ffmpeg appended to the segment list since the last look: only the new bytes are
        read, and a last line without its newline yet is left for the next look."""
        try:
            with open(self.folder / SEGMENT_LIST, "rb") as handle:
                handle.seek(self.list_bytes_read)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self.list_bytes_read += len(complete)
        names = [line.split(",", 1)[0] for line in complete.decode("utf-8", "replace").split("\n") if line]
        if names:
            self._last_listed = _number(names[-1])
        return names

    async def _add(self, path: Path) -> Segment:
        frames = await self._count(path)
        size = path.stat().st_size if path.exists() else 0
        segment = Segment(self.finished, path, self.frames, frames, size, time.monotonic())
        self.finished += 1
        self.frames += frames
        self.segments.append(segment)
        return segment

    def _drop(self, segment: Segment) -> bool:
        segment.path.unlink(missing_ok=True)
        self.segments.remove(segment)
        return False

    async def _count_frames(self, path: Path) -> int:
        """The video packets of a finished segment (ffprobe); FFmpegError past the time limit,
        MissingToolError when it cannot be started: the session fails, not the pipeline."""
        argv = count_packets_argv(children.ffprobe_binary(), path)
        done = await children.run(argv, timeout_s=self.count_timeout_s, check=False)
        numbers = [int(word) for word in done.stdout.decode("ascii", "replace").split() if word.isdigit()]
        return numbers[0] if numbers else 0


def _number(name: str) -> int:
    """The number in a segment's name (`seg000123.ts` -> 123; past a million it has more digits)."""
    digits = "".join(c for c in name if c.isdigit())
    return int(digits) if digits else -1
