"""A 64-bit perceptual hash of a clip: the DCT hash (pHash) of the mean of a few of its frames.

The hash is the classic DCT pHash, taken of a clip instead of an image:

1. up to `FRAMES_PER_CLIP` frames, evenly spaced over the clip, are turned to luma (BT.601) and
   averaged (a few frames, not one: two clips that share a first frame but go on differently
   should not collide; an average, not one hash per frame: one code per clip keeps the index small);
2. the mean image is reduced to 32x32 by area averaging (every source pixel counts once, so the
   result hardly depends on the size the frames were sampled at);
3. its 2-D DCT-II (orthonormal) is taken, and the 8x8 block of the lowest frequencies *without*
   row 0 and column 0 is kept (pHash's choice: the first row and column carry the mean and the
   coarsest gradients, which a brightness or letterbox change moves);
4. each of those 64 coefficients gives one bit: 1 where it is above their median.

Re-encodes, rescales and small crops of the same footage land within a few bits of each other;
unrelated scenes are about 32 bits apart (half of 64, as for random codes). A frame with almost no
texture (a flat colour, a black screen) has only noise in its AC coefficients: `clip_hash` returns
None for it rather than a code that would match every other flat clip.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

FRAMES_PER_CLIP = 4
HASH_SIDE = 32  # the DCT's input size
BLOCK = 8  # 8x8 coefficients -> 64 bits
FLAT_STD = 1.0  # grey levels: a mean image whose 32x32 reduction varies less is "flat" (no hash)

FloatImage = npt.NDArray[np.float64]


def pick_frames(count: int, wanted: int = FRAMES_PER_CLIP) -> list[int]:
    """Indices of up to `wanted` frames evenly spaced over `count` (first and last included)."""
    if count <= 0:
        return []
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def luma(frames: npt.NDArray[np.uint8]) -> FloatImage:
    """[n, h, w, 3] RGB -> [n, h, w] luma (BT.601 weights, as ffmpeg's gray conversion)."""
    weights = np.array([0.299, 0.587, 0.114])
    return np.asarray(frames[..., :3].astype(np.float64) @ weights)


def area_resize(image: FloatImage, side: int = HASH_SIDE) -> FloatImage:
    """Average `image` [h, w] into `side`x`side` cells (cells differ by at most one source pixel)."""
    height, width = image.shape
    if height < side or width < side:  # too small to average down: repeat pixels first
        image = np.repeat(np.repeat(image, -(-side // height), axis=0), -(-side // width), axis=1)
        height, width = image.shape
    rows = (np.arange(side) * height) // side
    cols = (np.arange(side) * width) // side
    sums = np.add.reduceat(np.add.reduceat(image, rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, height)), np.diff(np.append(cols, width)))
    return np.asarray(sums / counts)


@functools.cache
def _dct_matrix(size: int) -> FloatImage:
    """The orthonormal DCT-II matrix: `D @ x` is the DCT of column vector x."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2.0 / size)
    matrix[0] /= np.sqrt(2.0)
    return np.asarray(matrix)


def image_hash(image: FloatImage) -> int | None:
    """pHash of one grey image [h, w] (values 0..255); None for a flat image."""
    small = area_resize(image)
    if float(small.std()) < FLAT_STD:
        return None
    dct = _dct_matrix(HASH_SIDE)
    coefficients = (dct @ small @ dct.T)[1 : BLOCK + 1, 1 : BLOCK + 1].ravel()
    bits = coefficients > np.median(coefficients)
    return int(np.packbits(bits).view(">u8")[0])


def clip_hash(frames: npt.NDArray[np.uint8]) -> int | None:
    """The clip's hash from its frames [n, h, w, 3] (all of them or a sample); None when there are
    none or the clip is flat."""
    if frames.ndim != 4 or len(frames) == 0:
        return None
    chosen = frames[pick_frames(len(frames))]
    return image_hash(luma(chosen).mean(axis=0))


def hamming(a: int, b: int) -> int:
    """The number of bits in which two codes differ."""
    return (a ^ b).bit_count()


def as_hex(code: int) -> str:
    """A code as the 16 hex digits written into a clip's meta."""
    return f"{code:016x}"
