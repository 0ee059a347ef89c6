"""Transcoder: a pool of ffmpeg processes, one per clip, `workers` at a time.

A clip already finished in the output folder or S3 prefix (same uuid, so same source and span, and
its meta made by the same curation stages) is not encoded again; a clip a stage dropped counts as
finished by its meta alone. A failed encode is recorded in that clip's errors and the pipeline goes on; so is a clip
that comes out short of its span (a damaged source makes ffmpeg exit 0 having encoded only part).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from streamclip.actors.messages import ClipItem, SpanItem, VideoEnd
from streamclip.actors.pools import PerVideoPool
from streamclip.actors.source import frames_missing
from streamclip.config import LimitsConfig, TranscodeConfig
from streamclip.contract.rules import clip_uuid
from streamclip.contract.types import Clip, EncodedClipInfo, Span
from streamclip.errors import FFmpegError, Reason, SourceError, StreamclipError, output_failed, stderr_summary
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import transcode_argv
from streamclip.ffmpeg.probe import probe
from streamclip.live.cutting import live_clip_argv
from streamclip.runtime.channel import Channel
from streamclip.runtime.waiting import in_thread
from streamclip.stages.records import finished_for, restore
from streamclip.storage.layout import clip_path
from streamclip.storage.outputs import ROOT, OutputStore
from streamclip.storage.workspace import Workspace, fsync_file

TranscoderIn = SpanItem | VideoEnd
TranscoderOut = ClipItem | VideoEnd


class Transcoder(PerVideoPool[TranscoderIn, TranscoderOut]):
    name = "transcoder"

    def __init__(
        self,
        inbox: Channel[TranscoderIn],
        outbox: Channel[TranscoderOut],
        config: TranscodeConfig,
        limits: LimitsConfig,
        workspace: Workspace,
        *,
        threads: tuple[int, int] = (1, 1),
        store: OutputStore | None = None,
        stage_names: Sequence[str] = (),
    ) -> None:
        super().__init__(inbox, outbox, workers=config.workers)
        self.encoder_threads, self.input_threads = threads  # (encoder, source decoding)
        self.config = config
        self.limits = limits
        self.workspace = workspace
        self.store = store  # where finished clips are: one already there is not encoded again ...
        self.stage_names = tuple(stage_names)  # ... when these curation stages made its meta
        self.encoded = 0
        self.reused = 0
        self.failed = 0

    async def handle(self, item: TranscoderIn) -> None:
        assert isinstance(item, SpanItem)
        try:
            await self._handle(item)
        finally:
            if item.job.live is not None:
                item.job.live.unpin(item.span)  # its spool segments may go now

    async def on_marker(self, item: TranscoderIn) -> None:
        if item.job.live is not None:
            item.job.live.close()  # every clip of the source is cut: its spool goes
        await super().on_marker(item)

    async def _handle(self, item: SpanItem) -> None:
        job, span = item.job, item.span
        clip = Clip(
            uuid=clip_uuid(job.source, span.start_frame, span.end_frame),
            source=job.source,
            index=item.index,
            span=span,
        )
        store = self.store
        done = await in_thread(store.finished_clip, clip.uuid) if store is not None else None
        if done is not None and store is not None and finished_for(done.meta, self.stage_names):
            clip.encoded = done.info
            restore(clip, done.meta)  # its stages' fields, drop and counters, as the first run had them
            clip.path = store.location(clip_path(ROOT, clip.uuid)) if clip.drop_reason is None else None
            self.reused += 1
            await self.emit(ClipItem(job, clip, scratch_path=None, reused=True))
            return
        started = time.monotonic()
        scratch = await self._encode(item, clip)
        job.add_time("transcode", time.monotonic() - started)
        await self.emit(ClipItem(job, clip, scratch_path=scratch))

    async def _encode(self, item: SpanItem, clip: Clip) -> str | None:
        assert item.job.meta is not None
        scratch = self.workspace.scratch(".mp4")
        encoded = await self._run_checked(scratch, item)
        if isinstance(encoded, tuple):
            clip.fail("transcode", *encoded)
            self.failed += 1
            Path(scratch).unlink(missing_ok=True)
            return None
        clip.encoded = encoded
        self.encoded += 1
        return scratch

    async def _run_checked(self, scratch: str, item: SpanItem) -> EncodedClipInfo | tuple[str, Reason]:
        """Encode, then check what came out: its facts, or why it is unusable (and the kind)."""
        assert item.job.meta is not None
        cfg = self.config
        try:
            if item.job.live is not None:
                argv = live_clip_argv(item.job.live, item.job.meta, item.span, scratch, cfg, self.encoder_threads)
            else:
                argv = transcode_argv(
                    item.job.meta, item.span.start_s, item.span.end_s, scratch,
                    encoder=cfg.encoder, threads=self.encoder_threads, input_threads=self.input_threads,
                    preset=cfg.preset, use_input_bit_rate=cfg.use_input_bit_rate, use_hwaccel=cfg.use_hwaccel,
                    seek_back_s=item.job.seek_back_s,
                )  # fmt: skip
            done = await children.run(argv, timeout_s=self.limits.for_media(item.span.duration_s))
            if output_failed(done.stderr):  # ffmpeg may exit 0 after its writes failed (a full disk)
                return f"writing the clip failed: {stderr_summary(done.stderr)}", Reason.OUTPUT_IO
            encoded = await _describe(scratch, self.limits.probe_timeout_s)
        except FFmpegError as exc:
            return str(exc), _encode_failure_kind(exc)
        except SourceError as exc:  # ffmpeg exited 0 yet wrote no video: the source has none there
            return f"{_NO_FRAMES} ({exc.reason})", Reason.INCOMPLETE
        except StreamclipError as exc:  # no ffmpeg to run: this clip fails, the pipeline goes on
            return str(exc), exc.kind
        except LookupError as exc:  # a live source's spool no longer holds the span (a bug, not the input's)
            return str(exc), Reason.OTHER
        shortfall = _shortfall(encoded, item.span, item.job.meta.fps)
        if shortfall:
            return shortfall, Reason.INCOMPLETE
        try:  # its data goes to disk here, in this worker, so the writer's rename waits for no flush
            await in_thread(fsync_file, scratch)
        except OSError as exc:
            return f"the encoded clip could not be flushed to disk: {exc}", Reason.OUTPUT_IO
        return encoded

    def statistics(self) -> dict[str, object]:
        stats = super().statistics()
        stats.update(encoded=self.encoded, reused=self.reused, failed=self.failed)
        return stats


_NO_FRAMES = "nothing encoded: the source has no readable frames in this span (file truncated or damaged)"


def _encode_failure_kind(exc: FFmpegError) -> Reason:
    """A hung encoder is a timeout, a full work disk an output error, anything else the encoder's."""
    if exc.kind is Reason.TIMEOUT:
        return Reason.TIMEOUT
    return Reason.OUTPUT_IO if output_failed(exc.stderr_tail) else Reason.ENCODE_ERROR


def _shortfall(encoded: EncodedClipInfo, span: Span, fps: float) -> str | None:
    """A damaged source can make ffmpeg exit 0 with part of the span: compare with the span's length.

    The tolerance is the decoder's (`frames_missing`), counted at the source's average rate.
    """
    if not frames_missing(encoded.duration_s * fps, span.duration_s * fps):
        return None
    return (
        f"only {encoded.duration_s:.2f} s of the {span.duration_s:.2f} s span could be encoded: "
        "the source ends early (file truncated or damaged)"
    )


async def _describe(path: str, timeout_s: float) -> EncodedClipInfo:
    return EncodedClipInfo.from_metadata(await probe(path, timeout_s=timeout_s))
