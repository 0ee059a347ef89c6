"""PreviewStage: an animated WebP of every kept clip, as NeMo Curator's `PreviewStage` makes it.

Curator's facts (nemo_curator/stages/video/preview/preview.py; writer: stages/video/io/clip_writer.py):

- `target_fps = 1.0`, `target_height = 240`, `quality = 50`, `compression_level = 6`: ffmpeg
  `-vf fps=1,scale=-1:240 -c:v libwebp -lossless 0 -compression_level 6 -q:v 50 -loop 0`. The width
  keeps the aspect ratio (an odd width is fine: WebP has no 4:2:0 size rule). Sources lower than
  240 px are scaled up (Curator only logs a warning), and so are they here.
- It encodes each caption *window* of a clip and the writer names the file
  `previews/<clip uuid>/<window start>_<window end>.webp` (frames in the clip, end inclusive), and
  adds 1 to `num_with_webp` for a clip with a preview. streamclip makes one preview of the whole
  clip, so the name is `previews/<uuid>/0_<last frame>.webp`: Curator's own name for every clip of
  up to 383 frames (its windows are 256 frames, a remainder under 128 joins the last one), i.e.
  every clip of its default split (at most 10 s).
- A clip shorter than one frame interval (under 1 s at 1 fps): Curator runs the same command, and
  ffmpeg's `fps` filter keeps no frame, so it writes an 8-byte file that no decoder opens (exit
  status 0). Here such a clip gets a one-frame WebP of its first frame (the frame `fps` would have
  kept at time 0), and a failed encode fails the clip (Curator logs it and writes nothing).

The preview is made from the encoded clip, not from the frames in memory: those are sampled at
the frame extractor's rate and size (2 fps at the source's size by default, or none at all when
frames are off), while Curator's preview is 1 fps at 240 px; decoding a clip of a few seconds is a
small cost next to its encode (benchmarks/RESULTS.md). The clip's meta names the file (`preview`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from streamclip.config import LimitsConfig, PipelineConfig, PreviewConfig
from streamclip.contract.types import Clip
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import preview_argv
from streamclip.stages.interface import StageInput, StageOutput

PREVIEW_FOLDER = "previews"
WEBP_COUNTER = "num_with_webp"


def preview_name(clip: Clip) -> str:
    """Where the preview goes, relative to the output root (Curator's name for a one-window clip)."""
    last = max((clip.encoded.num_frames if clip.encoded else 0) - 1, 0)
    return f"{PREVIEW_FOLDER}/{clip.uuid}/0_{last}.webp"


def is_shorter_than_a_frame(clip: Clip, fps: float) -> bool:
    """True when `fps`'s filter would keep no frame of the clip (it spans under one interval)."""
    duration_s = clip.encoded.duration_s if clip.encoded else clip.span.duration_s
    return duration_s * fps < 1.0


class PreviewStage:
    """Adds `preview` (the file's name) to each kept clip's meta and writes the WebP there."""

    name = "preview"
    drop_counter: str | None = None

    def __init__(self, config: PreviewConfig, limits: LimitsConfig | None = None) -> None:
        self.config = config
        self.limits = limits or LimitsConfig()
        self.concurrency = config.concurrency

    async def process(self, item: StageInput) -> StageOutput:
        webp = await self.encode(item.path, item.clip)
        name = preview_name(item.clip)
        return StageOutput(fields={"preview": name}, files={name: webp}, counters=(WEBP_COUNTER,))

    async def encode(self, path: Path, clip: Clip) -> bytes:
        """The clip's animated WebP, encoded by ffmpeg into a scratch file and read back."""
        config = self.config
        with tempfile.TemporaryDirectory(prefix="streamclip-preview-") as scratch:
            output = Path(scratch) / "preview.webp"
            argv = preview_argv(
                str(path),
                str(output),
                fps=config.target_fps,
                height=config.target_height,
                quality=config.quality,
                compression_level=config.compression_level,
                single_frame=is_shorter_than_a_frame(clip, config.target_fps),
                threads=config.threads,
            )
            duration_s = clip.encoded.duration_s if clip.encoded else clip.span.duration_s
            await children.run(argv, timeout_s=self.limits.for_media(duration_s))
            data = output.read_bytes()
        if not data.startswith(b"RIFF") or data[8:12] != b"WEBP" or len(data) < 32:
            raise ValueError(f"ffmpeg wrote no usable WebP ({len(data)} bytes)")
        return data

    async def close(self) -> None:
        return None


def preview_stage(config: PipelineConfig) -> PreviewStage | None:
    """The built-in preview stage when `[preview] enabled`, else None."""
    return PreviewStage(config.preview, config.limits) if config.preview.enabled else None
