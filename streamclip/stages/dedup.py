"""DedupStage: flags (or drops) a clip that is a near-duplicate of an earlier one.

Each kept clip gets a 64-bit perceptual hash (`perceptual_hash`: the DCT hash of the mean of a few
of its frames) and is looked up in a Hamming-distance index (`hamming_index`, multi-index hashing)
of the clips seen before: in memory for one run, or in a SQLite file kept across runs
(`hamming_store`; the daemon keeps it beside its ledger, so a video uploaded again under another
name is caught). Found within `max_distance` bits: the clip's meta gets
`near_duplicate_of: <uuid of the earliest such clip>` and `near_duplicate_distance`, and the clip
is dropped when `drop` is set. Not found: the clip is indexed and becomes the original later
copies point to. Duplicates are not indexed, so every flag points at an original, never at a
chain of copies.

Frames: the clip's sampled frames (`Clip.frames`, the frame extractor's: 2 fps by default) when
there are any, else the frames the extractor's default (2 fps) would sample, decoded here at most
256 px wide (the hash reduces every frame to 32x32, so the size they come at hardly moves it). A
clip without texture (flat colour, black) has no meaningful hash: its meta says
`perceptual_hash: null` and it is neither flagged nor indexed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from streamclip.config import DedupConfig, LimitsConfig, PipelineConfig
from streamclip.contract.rules import sample_frame_indices
from streamclip.contract.types import Clip, FrameArray
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import frames_argv
from streamclip.stages.hamming_index import HammingIndex, Match
from streamclip.stages.hamming_store import HammingStore
from streamclip.stages.interface import StageInput, StageOutput
from streamclip.stages.perceptual_hash import as_hex, clip_hash

DECODE_FPS = 2.0  # the frame extractor's default rate: the same frames whichever path hashes them
DECODE_MAX_WIDTH = 256  # wider clips are decoded at this width (the hash reduces frames to 32x32)


class DedupStage:
    """Adds `perceptual_hash` to each kept clip's meta, and `near_duplicate_of` to a near-duplicate."""

    name = "dedup"
    drop_counter: str | None = None  # Curator has no counter for it: counted in num_filtered

    def __init__(self, config: DedupConfig, limits: LimitsConfig | None = None) -> None:
        self.config = config
        self.limits = limits or LimitsConfig()
        self.concurrency = config.concurrency
        self.index: HammingIndex | HammingStore = (
            HammingStore(config.index, config.max_distance) if config.index else HammingIndex(config.max_distance)
        )
        self._claiming = asyncio.Lock()  # one lookup-then-insert at a time: "the first" is well defined

    async def process(self, item: StageInput) -> StageOutput:
        frames = await self.frames_of(item.clip, item.path)
        code = await asyncio.to_thread(clip_hash, frames)
        if code is None:
            return StageOutput(fields={"perceptual_hash": None})
        async with self._claiming:
            found = await asyncio.to_thread(self.index.claim, item.clip.uuid, code)
        return self.verdict(code, found)

    def verdict(self, code: int, found: Match | None) -> StageOutput:
        fields: dict[str, object] = {"perceptual_hash": as_hex(code)}
        if found is None:
            return StageOutput(fields=fields)
        fields.update(near_duplicate_of=str(found.key), near_duplicate_distance=found.distance)
        reason = f"near-duplicate of clip {found.key} ({found.distance} of 64 bits differ)"
        return StageOutput(fields=fields, drop=reason if self.config.drop else None)

    async def frames_of(self, clip: Clip, path: Path) -> FrameArray:
        """The clip's sampled frames (the signature with most of them), else the same frames the
        frame extractor's default would sample (2 fps), decoded here."""
        if clip.frames:
            return max(clip.frames.values(), key=len)
        info = clip.encoded
        if info is None or info.num_frames <= 0 or info.width <= 0 or info.height <= 0:
            raise ValueError("the clip has neither sampled frames nor encoded facts to decode it by")
        size = decode_size(info.height, info.width)
        chosen = sample_frame_indices(info.num_frames, info.framerate, DECODE_FPS)
        argv = frames_argv(str(path), info.framerate, size=size, select=chosen, from_index=info.num_frames)
        done = await children.run(argv, timeout_s=self.limits.for_media(info.duration_s))
        height, width = size or (info.height, info.width)
        count = len(done.stdout) // (height * width * 3)
        return np.frombuffer(done.stdout[: count * height * width * 3], np.uint8).reshape(count, height, width, 3)

    async def close(self) -> None:
        self.index.close()


def decode_size(height: int, width: int) -> tuple[int, int] | None:
    """(height, width) to decode a clip at for hashing: its own size up to DECODE_MAX_WIDTH wide,
    else scaled down keeping the aspect ratio (None: as it is)."""
    if width <= DECODE_MAX_WIDTH:
        return None
    return max(round(DECODE_MAX_WIDTH * height / width), 1), DECODE_MAX_WIDTH


def dedup_stage(config: PipelineConfig) -> DedupStage | None:
    """The built-in dedup stage when `[dedup] enabled`, else None."""
    return DedupStage(config.dedup, config.limits) if config.dedup.enabled else None
