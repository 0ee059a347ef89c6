"""FrameExtractor: frames sampled from each encoded clip at every `target_fps`.

The clip is decoded once at its own constant frame rate; ffmpeg's `select` passes on only the
sampled frames (nearest frame to `k / target_fps`, see `rules.sample_frame_indices`) and the last
one, so only those are scaled, converted to RGB and written (at 1080p a frame is 6 MB; at 2 fps
of 30, 93 % are not sampled). Memory holds the samples, never the whole clip. Frames are keyed
`"{policy}-{int(target_fps * 1000)}"`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np

from streamclip.actors.messages import ClipItem, VideoEnd
from streamclip.actors.pools import PerVideoPool
from streamclip.config import FramesConfig, LimitsConfig
from streamclip.contract.rules import middle_index, sample_frame_indices
from streamclip.contract.types import EncodedClipInfo, FrameArray
from streamclip.errors import FFmpegError, StreamclipError
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import frame_count_argv, frames_argv
from streamclip.runtime.channel import Channel
from streamclip.storage.workspace import Workspace

ExtractorIn = ClipItem | VideoEnd
# Above this many samples a clip is decoded whole (an ffmpeg argument holds at most 128 KiB, and
# the select expression is evaluated term by term on every frame).
MAX_SELECTED = 2000


def frame_signature(policy: str, target_fps: float) -> str:
    return f"{policy}-{int(target_fps * 1000)}"


class FrameExtractor(PerVideoPool[ExtractorIn, ExtractorIn]):
    name = "frame_extractor"

    def __init__(
        self,
        inbox: Channel[ExtractorIn],
        outbox: Channel[ExtractorIn],
        config: FramesConfig,
        limits: LimitsConfig,
        workspace: Workspace,
        *,
        threads: int = 1,
    ) -> None:
        super().__init__(inbox, outbox, workers=config.workers)
        self.config = config
        self.limits = limits
        self.workspace = workspace
        self.threads = threads

    async def handle(self, item: ExtractorIn) -> None:
        assert isinstance(item, ClipItem)
        clip = item.clip
        source = item.scratch_path or clip.path
        if self.config.enabled and clip.ok and source and clip.encoded is not None:
            started = time.monotonic()
            try:
                clip.frames = await self.extract(source, clip.encoded)
            except StreamclipError as exc:  # a failed or hung ffmpeg, or none to run
                clip.fail("frames", str(exc), exc.kind)
            item.job.add_time("frames", time.monotonic() - started)
        await self.emit(item)

    async def extract(self, path: str, info: EncodedClipInfo) -> dict[str, FrameArray]:
        """The sampled frames of one clip, decoding it once and converting only what is kept."""
        count = info.num_frames
        decoded = await self._decode(path, info, count)
        if decoded is None:  # the probed length (from the duration) was not the frame count
            count = await self._count(path, info)
            decoded = await self._decode(path, info, count)
        if decoded is None:
            raise FFmpegError([path], None, f"the frame count changed between two decodes ({count})")
        frames, rows = decoded
        return self._select(frames, rows, count, info.framerate)

    async def _decode(self, path: str, info: EncodedClipInfo, count: int) -> tuple[FrameArray, dict[int, int]] | None:
        """The sampled frames of a clip of `count` frames, and each index's row among them.

        ffmpeg is asked for the samples, the last frame (the one a final sample may be clamped to)
        and every frame after it: exactly one frame per sample index comes back iff the clip has
        `count` frames; otherwise None. Above MAX_SELECTED samples every frame is taken.
        """
        rate = info.framerate
        samples = sorted({i for r in self.config.target_fps for i in sample_frame_indices(count, rate, r)})
        expected = sorted({*samples, count - 1}) if count > 0 else []
        everything = len(expected) > MAX_SELECTED
        frames = await self._run(path, info, expected, 0 if everything else count)
        if everything and len(frames) == count:
            return frames, {index: index for index in expected}
        if everything or len(frames) != len(expected) or count <= 0:
            return None
        return frames, {index: row for row, index in enumerate(expected)}

    async def _run(self, path: str, info: EncodedClipInfo, chosen: list[int], tail_from: int) -> FrameArray:
        """The frames ffmpeg selects, written to a work file and mapped, as [n, height, width, 3].

        Mapped copy-on-write, the frames are the kernel's cached pages of the file (unlinked at
        once, gone with the last view): piped through asyncio, 6-MB frames cost this process
        more CPU than decoding them costs ffmpeg, and reading them into memory copies each.
        """
        height, width = self.config.target_res or (info.height, info.width)
        scratch = self.workspace.scratch(".rgb")
        argv = frames_argv(path, info.framerate, size=self.config.target_res, select=chosen,
                           from_index=tail_from, threads=self.threads, output=scratch)  # fmt: skip
        try:
            await children.run(argv, timeout_s=self.limits.for_media(info.duration_s))
            if os.path.getsize(scratch) < height * width * 3:
                return np.zeros((0, height, width, 3), np.uint8)
            mapped = np.memmap(scratch, np.uint8, mode="c")
            return mapped.view(np.ndarray)[: len(mapped) // (height * width * 3) * height * width * 3].reshape(
                -1, height, width, 3
            )
        finally:
            Path(scratch).unlink(missing_ok=True)

    async def _count(self, path: str, info: EncodedClipInfo) -> int:
        """How many frames the clip has at its constant rate (decoded, not converted)."""
        argv = frame_count_argv(path, info.framerate, threads=self.threads)
        done = await children.run(argv, timeout_s=self.limits.for_media(info.duration_s))
        counts = re.findall(rb"^frame=(\d+)$", done.stdout, re.MULTILINE)
        if not counts or int(counts[-1]) == 0:
            raise FFmpegError(argv, done.returncode, done.stderr or "no frame decoded")
        return int(counts[-1])

    def _select(self, frames: FrameArray, rows: dict[int, int], count: int, fps: float) -> dict[str, FrameArray]:
        """Each signature's frames: a view of the mapped file where their rows follow each other
        (one rate: always), else a copy."""
        chosen: dict[str, FrameArray] = {}
        for r in self.config.target_fps:
            indices = sample_frame_indices(count, fps, r)
            for policy in self.config.policies:
                picked = indices if policy == "sequence" else [middle_index(indices)]
                at = [rows[i] for i in picked if i is not None]
                consecutive = at == list(range(at[0], at[0] + len(at))) if at else False
                chosen[frame_signature(policy, r)] = frames[at[0] : at[-1] + 1] if consecutive else frames[at]
        return chosen
