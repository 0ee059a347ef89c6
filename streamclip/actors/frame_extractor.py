"""FrameExtractor: frames sampled from each encoded clip at every `target_fps`.

The clip is decoded once at its own constant frame rate and streamed; only the sampled frames
(nearest frame to `k / target_fps`, see `rules.sample_frame_indices`) are kept, so memory holds
the samples, never the whole clip. Frames are keyed `"{policy}-{int(target_fps * 1000)}"`.
"""

from __future__ import annotations

import time

import numpy as np

from streamclip import ffmpeg
from streamclip.actors.messages import ClipItem, VideoEnd
from streamclip.actors.pools import PerVideoPool
from streamclip.config import FramesConfig, LimitsConfig
from streamclip.errors import FFmpegError, StreamclipError
from streamclip.ffargs import frames_argv
from streamclip.rules import middle_index, sample_frame_indices
from streamclip.runtime.channel import Channel
from streamclip.types import EncodedClipInfo, FrameArray

ExtractorIn = ClipItem | VideoEnd


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
    ) -> None:
        super().__init__(inbox, outbox, workers=config.workers)
        self.config = config
        self.limits = limits

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
        fps = info.framerate
        height, width = self.config.target_res or (info.height, info.width)
        frame_bytes = height * width * 3
        estimate = max(info.num_frames, 1) * 2 + 16
        wanted = {i for r in self.config.target_fps for i in sample_frame_indices(estimate, fps, r)}
        kept: dict[int, FrameArray] = {}
        last: FrameArray | None = None
        count = 0
        argv = frames_argv(path, fps, size=self.config.target_res)
        async with ffmpeg.stream(argv, idle_timeout_s=self.limits.for_media(info.duration_s)) as child:
            while len(data := await child.read_exactly(frame_bytes)) == frame_bytes:
                last = np.frombuffer(data, np.uint8).reshape(height, width, 3)
                if count in wanted:
                    kept[count] = last
                count += 1
            done = await child.finish()
        if done.returncode != 0 or last is None:
            raise FFmpegError(argv, done.returncode, done.stderr or "no frame decoded")
        kept[count - 1] = last
        return self._select(kept, count, fps)

    def _select(self, kept: dict[int, FrameArray], count: int, fps: float) -> dict[str, FrameArray]:
        frames: dict[str, FrameArray] = {}
        for r in self.config.target_fps:
            indices = sample_frame_indices(count, fps, r)
            for policy in self.config.policies:
                chosen = indices if policy == "sequence" else [middle_index(indices)]
                frames[frame_signature(policy, r)] = np.stack([kept[i] for i in chosen if i is not None])
        return frames
