"""ClipWriter: the end of the line. Puts finished clips in place and turns items into events.

With an output folder every file goes to a temporary name first and is renamed into place; the
curation stages' files and the meta are written before the clip so no clip ever stands without
its meta, and a clip that is already finished there is not rewritten. An S3 output takes the clip
first, then the stages' files, then its meta (`streamclip.storage.outputs`: an object is visible
only once complete). Without an output folder the encoded bytes travel in `Clip.buffer` and the
stages' files in `Clip.files`.

A clip a curation stage dropped is final too: its meta is written (with the stages' fields and the
reason), its file is not (one an earlier run kept is removed), and it comes as a `ClipReady` whose
`clip.kept` is false. It counts in the video's `ClipStats` (`num_filtered`, the stage's drop
counter), not in `num_passed` nor in the video's `num_clips`.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

from streamclip.actors.decisions_writer import write_decisions
from streamclip.actors.messages import ClipItem, StageDrop, VideoEnd, VideoJob
from streamclip.config import PipelineConfig
from streamclip.contract.types import Clip, ClipReady, ClipStats, Event, VideoDone, VideoFailed
from streamclip.errors import Reason
from streamclip.runtime.actor import Actor
from streamclip.runtime.channel import Channel
from streamclip.runtime.waiting import in_thread
from streamclip.storage.layout import (
    ChunkClip,
    chunk_record,
    chunk_record_path,
    clip_chunks,
    clip_path,
    clip_record,
    encode_json,
    filtered_clip_path,
    frames_path,
    meta_path,
    video_record,
    video_record_path,
)
from streamclip.storage.outputs import ROOT, OutputStore

WriterIn = ClipItem | VideoEnd


class ClipWriter(Actor[WriterIn, Event]):
    name = "clip_writer"

    def __init__(
        self,
        inbox: Channel[WriterIn],
        outbox: Channel[Event],
        config: PipelineConfig,
        store: OutputStore | None,
        started_at: float,
        *,
        with_stages: bool = False,
    ) -> None:
        super().__init__(inbox, outbox)
        self.config = config
        self.store = store
        self.started_at = started_at
        self.with_stages = with_stages  # video records then carry the clip stats (else as before)
        self.stats: dict[int, ClipStats] = {}
        self.chunk_clips: dict[int, list[ChunkClip]] = {}  # per video: what its chunk records say

    def _elapsed(self) -> float:
        return time.monotonic() - self.started_at

    async def on_item(self, item: WriterIn) -> None:
        if isinstance(item, VideoEnd):
            await self.emit(await in_thread(self._finish_video, item))
            return
        started = time.monotonic()
        try:
            await in_thread(self._place, item)
        except OSError as exc:  # disk full, no permission, ...: this clip fails, the rest goes on
            await in_thread(self._unplace, item, exc)
        item.job.add_time("write", time.monotonic() - started)
        self._count(item.job, item.clip)
        await self.emit(ClipReady(clip=item.clip, elapsed_s=self._elapsed()))

    def _count(self, job: VideoJob, clip: Clip) -> None:
        dropped = clip.ok and not clip.kept
        transcoded = clip.ok or clip.failure_kind is Reason.STAGE_ERROR  # stages see encoded clips only
        chunk_clip = ChunkClip(clip.index, str(clip.uuid), clip.span.duration_s, transcoded=transcoded,
                               dropped=dropped, counters=tuple(clip.counters) if clip.ok else ())  # fmt: skip
        self.chunk_clips.setdefault(job.id, []).append(chunk_clip)
        if not clip.ok:
            job.clips_failed += 1  # the video's record keeps the first failure's reason
            job.errors.setdefault("clips", f"clip {clip.index}: {'; '.join(clip.errors.values())}")
            return
        if dropped:
            job.clips_dropped += 1
            drop = StageDrop(clip.index, clip.span, clip.dropped_by or "", clip.drop_reason or "", dict(clip.fields))
            job.stage_drops.append(drop)
        else:
            job.clips_done += 1
        duration = clip.span.duration_s  # Curator: the durations of kept and filtered clips alike
        counters = {name: clip.counters.count(name) for name in clip.counters}
        counted = ClipStats(num_passed=int(not dropped), num_filtered=int(dropped), num_transcoded=1,
                            total_clip_duration=duration, max_clip_duration=duration, **counters)  # fmt: skip
        self.stats[job.id] = self.stats.get(job.id, ClipStats()).combine(counted)

    def _place(self, item: ClipItem) -> None:
        clip, scratch, store = item.clip, item.scratch_path, self.store
        if scratch is not None and clip.kept and (store is None or self.config.transcode.keep_buffer):
            clip.buffer = Path(scratch).read_bytes()
        if store is None:
            if scratch is not None:
                Path(scratch).unlink(missing_ok=True)
            return
        if item.reused:
            return
        assert item.job.meta is not None
        final = clip_path(ROOT, clip.uuid)
        if clip.kept and scratch is not None:
            clip.path = store.location(final)
        frames = (
            (frames_path(ROOT, clip.uuid), _npz(clip))
            if clip.frames and clip.kept and self.config.frames.write
            else None
        )
        # Curator names a filtered clip's place under filtered_clips/ (streamclip writes no file there)
        location = store.location(final if clip.kept or not clip.ok else filtered_clip_path(ROOT, clip.uuid))
        record = clip_record(clip, item.job.meta, location)
        if item.job.live is not None:
            record.update(item.job.live.clip_fields(clip.span))
        meta = (meta_path(ROOT, clip.uuid), encode_json(record))
        files = [(Path(name), data) for name, data in clip.files.items()] if clip.ok else []
        store.place_clip((final, scratch) if clip.path and scratch is not None else None, frames, meta, files)
        clip.files = {}  # written: the event does not carry them
        if not clip.kept and scratch is not None:
            Path(scratch).unlink(missing_ok=True)
        if clip.ok and not clip.kept:  # dropped: a file an earlier run kept under its id goes
            store.delete([final, frames_path(ROOT, clip.uuid)])

    def _unplace(self, item: ClipItem, error: OSError) -> None:
        """The clip's files could not be written: mark it failed, remove what was written of it."""
        clip = item.clip
        clip.fail("write", f"could not write the clip's files: {error}", Reason.OUTPUT_IO)
        clip.path = None
        if item.scratch_path is not None:
            Path(item.scratch_path).unlink(missing_ok=True)
        if self.store is not None:
            self.store.discard_clip(clip.uuid, [Path(name) for name in clip.files])
        clip.files = {}

    def _finish_video(self, end: VideoEnd) -> Event:
        job = end.job
        stats = self.stats.pop(job.id, ClipStats())
        chunks = clip_chunks(self.chunk_clips.pop(job.id, []))
        if self.store is not None:
            try:
                name = self.store.record_name(job.rel, job.source)  # another source's name: both kept
                self._write_chunks(name, job.source, chunks or ([[]] if end.error is None else []))
                self.store.write(
                    video_record_path(ROOT, name), encode_json(self._video_record(end, len(chunks), stats))
                )
                write_decisions(self.store, job, end.error, time.monotonic() - job.submitted_at, name=name)
            except OSError as exc:
                end = VideoEnd(job, error=f"its record could not be written: {exc}", kind=Reason.OUTPUT_IO)
        if end.error is not None:
            return VideoFailed(
                source=job.source,
                reason=end.error,
                num_clips=job.clips_done,
                elapsed_s=self._elapsed(),
                error_type=end.error_type,
                kind=end.kind,
            )
        note = job.note or ("" if job.spans_made else "no clip: no scene long enough for the minimum clip length")
        return VideoDone(
            source=job.source, num_clips=job.clips_done, num_failed_clips=job.clips_failed,
            metadata=job.meta, stats=stats, timings_s=dict(job.timings_s), elapsed_s=self._elapsed(),
            errors=dict(job.errors), note=note,
        )  # fmt: skip

    def _write_chunks(self, name: str, source: str, chunks: list[list[ChunkClip]]) -> None:
        """OUT/processed_clip_chunks/<name>_<i>.json; a finished video without clips gets an empty
        chunk 0, as in Curator (its `num_clip_chunks` stays 0)."""
        assert self.store is not None
        for index, chunk in enumerate(chunks):
            self.store.write(chunk_record_path(ROOT, name, index), encode_json(chunk_record(source, index, chunk)))

    def _video_record(self, end: VideoEnd, num_clip_chunks: int, stats: ClipStats) -> dict[str, object]:
        """Curator's video record, then streamclip's own keys."""
        job = end.job
        errors = dict(job.errors)
        if end.error is not None:
            errors["video"] = end.error
        curator = video_record(job.source, job.meta, num_total_clips=job.spans_made, num_clip_chunks=num_clip_chunks)
        return {
            **curator,
            "metadata": job.meta,
            "num_clips_written": job.clips_done,
            "num_clips_failed": job.clips_failed,
            **({"num_clips_dropped": job.clips_dropped, "clip_stats": stats} if self.with_stages else {}),
            "frames_decoded": job.frames_decoded,
            "timings_s": {k: round(v, 4) for k, v in job.timings_s.items()},
            "errors": errors,
            "status": "failed" if end.error is not None else "done",
            **({"live": job.live.record()} if job.live is not None else {}),
        }


def _npz(clip: Clip) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **clip.frames)  # type: ignore[arg-type]
    return buffer.getvalue()
