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
there are any, else a few frames decoded from the clip at 2 fps and 64x64 (the hash reduces every
frame to 32x32, so the size they come at hardly moves it). A clip without texture (flat colour,
black) has no meaningful hash: its meta says `perceptual_hash: null` and it is neither flagged nor
indexed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from streamclip.config import DedupConfig, LimitsConfig, PipelineConfig
from streamclip.contract.types import Clip, FrameArray
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import frames_argv
from streamclip.stages.hamming_index import HammingIndex, Match
from streamclip.stages.hamming_store import HammingStore
from streamclip.stages.interface import StageInput, StageOutput
from streamclip.stages.perceptual_hash import as_hex, clip_hash

DECODE_FPS = 2.0  # the frame extractor's default rate: the same frames whichever path hashes them
DECODE_SIDE = 64


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
        """The clip's sampled frames (the signature with most of them), else a few decoded here."""
        if clip.frames:
            return max(clip.frames.values(), key=len)
        duration_s = clip.encoded.duration_s if clip.encoded else clip.span.duration_s
        argv = frames_argv(str(path), DECODE_FPS, size=(DECODE_SIDE, DECODE_SIDE))
        done = await children.run(argv, timeout_s=self.limits.for_media(duration_s))
        frame_bytes = DECODE_SIDE * DECODE_SIDE * 3
        count = len(done.stdout) // frame_bytes
        return np.frombuffer(done.stdout[: count * frame_bytes], np.uint8).reshape(count, DECODE_SIDE, DECODE_SIDE, 3)

    async def close(self) -> None:
        self.index.close()


def dedup_stage(config: PipelineConfig) -> DedupStage | None:
    """The built-in dedup stage when `[dedup] enabled`, else None."""
    return DedupStage(config.dedup, config.limits) if config.dedup.enabled else None
