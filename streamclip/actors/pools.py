"""The two kinds of pool the video actors are: one video per item, or many items per video."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

from streamclip.actors.messages import ClipItem, SpanItem, VideoEnd, VideoJob
from streamclip.runtime.actor import PoolActor

Out = TypeVar("Out")
PerVideoItem = TypeVar("PerVideoItem", SpanItem | VideoEnd, ClipItem | VideoEnd)


class VideoPool(PoolActor[VideoJob, Out]):
    """Each item is a whole video (decoder, fixed-stride spanner); there are no markers."""

    def group_of(self, item: VideoJob) -> Hashable:
        return item.id

    def is_marker(self, item: VideoJob) -> bool:
        return False


class PerVideoPool(PoolActor[PerVideoItem, Out]):
    """Many items per video, each video closed by its `VideoEnd`, passed on after its items."""

    def group_of(self, item: PerVideoItem) -> Hashable:
        return item.job.id

    def is_marker(self, item: PerVideoItem) -> bool:
        return isinstance(item, VideoEnd)
