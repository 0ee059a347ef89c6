"""Cutting a live source's clip from its spool (never from the source, which is read once)."""

from __future__ import annotations

from streamclip.config import TranscodeConfig
from streamclip.contract.types import Span, VideoMetadata
from streamclip.live.argv import clip_argv
from streamclip.live.session import LiveSession


def live_clip_argv(
    session: LiveSession, meta: VideoMetadata, span: Span, output: str, config: TranscodeConfig, threads: int
) -> list[str]:
    """The ffmpeg argv that encodes `span` from the spool segments holding it (pinned until done)."""
    segments = session.spool.covering(span.start_frame, span.end_frame)
    offset = span.start_frame - segments[0].first_frame
    frames = span.end_frame - span.start_frame
    return clip_argv(
        [segment.path for segment in segments], offset, frames, meta, output,
        encoder=config.encoder, threads=threads, preset=config.preset,
    )  # fmt: skip
