"""Motion scores of an encoded clip from its codec's motion vectors, with NeMo Curator's semantics.

Pure (no pipeline, no asyncio): `decode_motion(path)` decodes the clip with PyAV asking the
decoder to export its motion vectors, `score_motion(decoded)` turns them into the two scores
Curator stores on a clip. Followed from NVIDIA NeMo Curator's
`nemo_curator/stages/video/filtering/motion_vector_backend.py` (`decode_for_motion`,
`motion_vectors_to_flowfield`, `check_if_small_motion`) and `motion_filter.py`
(`MotionVectorDecodeStage`, `MotionFilterStage`); the code here is our own (numpy, no torch, no
OpenCV). What it reproduces:

Sampling. The first video stream is decoded (`Flags2.export_mvs`); decoded frame `i` is sampled
when `i % step == 0`, `step = max(1, round(fps / 2))` (fps: the stream's average rate, else its base
rate, else 30). Only sampled frames that carry motion-vector side data count (intra frames carry
none); decoding stops once `max(10, round(2 · duration · 0.5))` of them are collected, so a clip of
up to 10 s is sampled at about 2 fps over at most its first 5 s. `duration` is what Curator
effectively uses: the container's duration truncated to whole seconds, 30 when that is 0 (its
stream-duration branch multiplies by `int(time_base)`, which is 0, so it never applies).

Flow field. Each vector of a 8x8, 16x16, 16x8 or 8x16 block (other sizes are ignored, as Curator's
four block kinds are the only ones it rasterises) paints its block, `[dst - size/2, dst + size/2)`
clamped to the frame, with `-motion / motion_scale`. Blocks are painted kind by kind in that order,
in side-data order within a kind, and a later block overwrites an earlier one (Curator's
`index_put_` without accumulation; in a B-frame the future vector of a block is the later one).
A pixel no vector paints has no motion.

Scores. A pixel's magnitude is the flow's length divided by `width + height` of the frame.
`global_mean` is the mean magnitude over the counted frames and all pixels. `per_patch_min_256`
is the minimum of the per-pixel mean map resized by 1/256 in both directions with OpenCV's
`INTER_LINEAR` (output `round(side / 256)`, each output a bilinear sample at `(k + 0.5)·256 - 0.5`,
i.e. the mean of a 2x2 pixel block there, not a mean over the 256x256 patch: Curator's choice,
reproduced, not repaired). A clip has small motion when `global_mean < 0.00098` or
`per_patch_min_256 < 0.000001`.

Curator's traps, reproduced here and decided in `streamclip.stages.motion`:
- a first frame narrower or lower than 256 px cannot be scored (`FrameTooSmall`);
- a clip whose codec exports no motion vectors (all-intra encodes, VP9, AV1: FFmpeg exports them
  for H.264 and the MPEG family) has no frame to count (`NoMotionVectors`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.sidedata.motionvectors import MotionVectors
from numpy.lib.recfunctions import structured_to_unstructured

MIN_SIDE_PX = 256  # Curator's minimum for both sides of the frame
PATCH_PX = 256
TARGET_FPS = 2.0
DURATION_RATIO = 0.5
MIN_SAMPLED_FRAMES = 10
FALLBACK_FPS = 30.0
FALLBACK_DURATION_S = 30
# The block kinds (width, height) Curator rasterises, in the order it paints them.
BLOCK_KINDS: tuple[tuple[int, int], ...] = ((8, 8), (16, 16), (16, 8), (8, 16))

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class MotionUnscorable(Exception):
    """The clip's motion cannot be scored by Curator's rules; `reason` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FrameTooSmall(MotionUnscorable):
    """The first frame has a side under 256 px."""


class NoMotionVectors(MotionUnscorable):
    """No sampled frame carried motion vectors (all-intra, or a codec that exports none)."""


@dataclass(frozen=True)
class DecodedMotion:
    """The motion vectors of the sampled frames and the decoded frame's size."""

    frames: list[IntArray]
    """One array per counted frame, columns `VECTOR_COLUMNS`."""
    width: int
    height: int


@dataclass(frozen=True)
class MotionScores:
    global_mean: float
    per_patch_min_256: float

    def is_small(self, global_mean_threshold: float, per_patch_min_threshold: float) -> bool:
        """Curator's rule: small motion when either score is under its threshold."""
        return self.global_mean < global_mean_threshold or self.per_patch_min_256 < per_patch_min_threshold


# Columns kept from PyAV's AVMotionVector records, in this order.
VECTOR_COLUMNS = ("w", "h", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")


def decode_motion(path: Path, *, threads: int = 1) -> DecodedMotion:
    """Decode `path` with motion vectors exported and keep the sampled frames' vectors."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        context.flags2 |= av.codec.context.Flags2.export_mvs
        context.thread_count = threads
        step = max(1, round(_stream_fps(stream) / TARGET_FPS))
        wanted = max(MIN_SAMPLED_FRAMES, round(TARGET_FPS * _whole_seconds(container) * DURATION_RATIO))
        frames: list[IntArray] = []
        width = height = 0
        for index, frame in enumerate(container.decode(stream)):
            if index % step:
                continue
            if index == 0:
                width, height = _check_size(frame.width, frame.height)
            vectors = _motion_vectors(frame)
            if vectors is not None:
                frames.append(vectors)
            if len(frames) >= wanted:
                break
    if not frames:
        raise NoMotionVectors("no motion vectors in the sampled frames (all-intra, or a codec that exports none)")
    return DecodedMotion(frames=frames, width=width, height=height)


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.base_rate
    return float(rate) if rate else FALLBACK_FPS


def _whole_seconds(container: av.container.InputContainer) -> int:
    seconds = int(container.duration / av.time_base) if container.duration else 0
    return seconds if seconds > 0 else FALLBACK_DURATION_S


def _check_size(width: int, height: int) -> tuple[int, int]:
    if width < MIN_SIDE_PX or height < MIN_SIDE_PX:
        raise FrameTooSmall(f"frame {width}x{height} has a side under {MIN_SIDE_PX} px")
    return width, height


def _motion_vectors(frame: av.VideoFrame) -> IntArray | None:
    # PyAV's stubs type `Frame.side_data` as one SideData; at run time it is a container of them.
    container: Iterable[object] = frame.side_data
    for side_data in container:
        if isinstance(side_data, MotionVectors):
            records = side_data.to_ndarray()
            return structured_to_unstructured(records[list(VECTOR_COLUMNS)]).astype(np.int64)
    return None


def score_motion(decoded: DecodedMotion) -> MotionScores:
    """Curator's two scores from the sampled frames' motion vectors."""
    width, height = decoded.width, decoded.height
    pixel_sum = np.zeros((height, width), dtype=np.float64)
    for vectors in decoded.frames:
        pixel_sum += magnitude_map(vectors, width, height)
    per_pixel_mean = pixel_sum / len(decoded.frames)
    return MotionScores(
        global_mean=float(per_pixel_mean.mean()),
        per_patch_min_256=float(resize_linear_by_256(per_pixel_mean).min()),
    )


def magnitude_map(vectors: IntArray, width: int, height: int) -> FloatArray:
    """One frame's flow magnitude per pixel, normalised by `width + height`."""
    vectors = _painting_order(vectors)
    w, h, dst_x, dst_y, motion_x, motion_y, scale = vectors.T
    magnitude = np.hypot(motion_x / scale, motion_y / scale) / (width + height)
    left, right = np.clip(dst_x - w // 2, 0, width - 1), np.clip(dst_x + w // 2 - 1, 0, width - 1)
    top, bottom = np.clip(dst_y - h // 2, 0, height - 1), np.clip(dst_y + h // 2 - 1, 0, height - 1)
    # Paint on the grid of the blocks' own edges (about 8x8 px cells), then spread cells to pixels.
    x_edges = np.unique(np.concatenate(([0, width], left, right + 1)))
    y_edges = np.unique(np.concatenate(([0, height], top, bottom + 1)))
    winner = _last_painter(
        np.searchsorted(x_edges, left),
        np.searchsorted(x_edges, right + 1),
        np.searchsorted(y_edges, top),
        np.searchsorted(y_edges, bottom + 1),
        len(x_edges) - 1,
        len(y_edges) - 1,
    )
    cells = np.where(winner >= 0, magnitude[np.maximum(winner, 0)], 0.0)
    return np.repeat(np.repeat(cells, np.diff(y_edges), axis=0), np.diff(x_edges), axis=1)


def _painting_order(vectors: IntArray) -> IntArray:
    """Vectors of Curator's block kinds (and a scale), kind by kind, side-data order within one."""
    kind = np.full(len(vectors), len(BLOCK_KINDS))
    for rank, (w, h) in enumerate(BLOCK_KINDS):
        kind[(vectors[:, 0] == w) & (vectors[:, 1] == h)] = rank
    keep = (kind < len(BLOCK_KINDS)) & (vectors[:, 6] > 0)
    order = np.argsort(kind, kind="stable")
    return vectors[order[keep[order]]]


def _last_painter(
    col_start: IntArray, col_end: IntArray, row_start: IntArray, row_end: IntArray, n_cols: int, n_rows: int
) -> IntArray:
    """Per cell, the index of the last block covering it (-1: none); blocks cover cell ranges."""
    cols_per_block = col_end - col_start
    rows_per_block = row_end - row_start
    cells_per_block = cols_per_block * rows_per_block
    block = np.repeat(np.arange(len(col_start)), cells_per_block)
    # Position of each cell within its block, row-major.
    within = np.arange(len(block)) - np.repeat(np.cumsum(cells_per_block) - cells_per_block, cells_per_block)
    row = row_start[block] + within // cols_per_block[block]
    col = col_start[block] + within % cols_per_block[block]
    winner = np.full(n_rows * n_cols, -1, dtype=np.int64)
    np.maximum.at(winner, row * n_cols + col, block)
    return winner.reshape(n_rows, n_cols)


def resize_linear_by_256(image: FloatArray) -> FloatArray:
    """OpenCV's `resize(image, None, fx=1/256, fy=1/256)` (INTER_LINEAR), for a 2-D array."""
    rows = _linear_taps(image.shape[0])
    cols = _linear_taps(image.shape[1])
    out = np.empty((len(rows), len(cols)))
    for i, (y0, y1, fy) in enumerate(rows):
        for j, (x0, x1, fx) in enumerate(cols):
            top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
            bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
            out[i, j] = top * (1 - fy) + bottom * fy
    return out


def _linear_taps(size: int) -> list[tuple[int, int, float]]:
    """Per output sample: the two source indices and the weight of the second (OpenCV's edges)."""
    taps = []
    for k in range(max(1, round(size / PATCH_PX))):
        position = (k + 0.5) * PATCH_PX - 0.5
        first = int(np.floor(position))
        weight = position - first
        if first >= size - 1:
            first, weight = size - 1, 0.0
        taps.append((first, min(first + 1, size - 1), weight))
    return taps
