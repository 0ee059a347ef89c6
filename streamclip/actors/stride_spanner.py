"""StrideSpanner: fixed-stride spans from the probed duration alone (no decoding, no model)."""

from __future__ import annotations

from streamclip.actors.messages import SpanItem, VideoEnd, VideoJob
from streamclip.actors.pools import VideoPool
from streamclip.actors.source import probe_job
from streamclip.config import LimitsConfig, SpansConfig
from streamclip.contract.decisions import stride_record
from streamclip.contract.rules import fixed_stride_spans, seconds_to_frame
from streamclip.contract.types import Span
from streamclip.runtime.channel import Channel

StrideOut = SpanItem | VideoEnd


class StrideSpanner(VideoPool[StrideOut]):
    name = "stride_spanner"

    def __init__(
        self,
        inbox: Channel[VideoJob],
        outbox: Channel[StrideOut],
        config: SpansConfig,
        limits: LimitsConfig,
        *,
        workers: int,
    ) -> None:
        super().__init__(inbox, outbox, workers=workers)
        self.config = config
        self.limits = limits

    async def handle(self, item: VideoJob) -> None:
        failed = await probe_job(item, timeout_s=self.limits.probe_timeout_s)
        if failed is not None:
            await self.emit(failed)
            return
        assert item.meta is not None
        fps = item.meta.fps
        spans = fixed_stride_spans(
            item.meta.duration_s,
            fps,
            clip_len_s=self.config.clip_len_s,
            clip_stride_s=self.config.clip_stride_s,
            min_clip_length_s=self.config.min_clip_length_s,
            limit_clips=self.config.limit_clips,
        )
        item.decisions = stride_record(
            item.source,
            item.meta.duration_s,
            fps,
            clip_len_s=self.config.clip_len_s,
            clip_stride_s=self.config.clip_stride_s,
            min_clip_length_s=self.config.min_clip_length_s,
            limit_clips=self.config.limit_clips,
        )
        for index, (start_s, end_s) in enumerate(spans):
            span = Span(
                start_frame=seconds_to_frame(start_s, fps),
                end_frame=seconds_to_frame(end_s, fps),
                start_s=start_s,
                end_s=end_s,
            )
            await self.emit(SpanItem(item, index, span))
            item.spans_made += 1
        if not spans and item.meta.duration_s < self.config.min_clip_length_s:
            item.note = (
                f"no clip: the video ({item.meta.duration_s:.2f} s) is shorter than the minimum "
                f"clip length ({self.config.min_clip_length_s:g} s)"
            )
        await self.emit(VideoEnd(item))
