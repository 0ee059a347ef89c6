"""Calibration windows for the int8 detector, synthesised here: no download, no file, no ffmpeg.

Post-training quantisation only needs activations in the ranges real video produces, so the
windows mix what shot detection sees: smooth gradients, panning textures, blocky "image-like"
content, moving objects over a background, flat colour with noise, and the transitions between
them (hard cuts, and dissolves, fades through black and wipes of up to 40 frames).

Everything is integer arithmetic on numpy's seeded PCG64 generator, whose stream numpy keeps
stable across versions and platforms, so the same seed gives the same bytes on every machine
(floating-point functions such as `np.sin` are avoided: their SIMD implementations differ by CPU).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

HEIGHT, WIDTH = 27, 48
WINDOW = 100
COUNT = 16  # windows the int8 model is calibrated on; see benchmarks/RESULTS.md (size and data vs accuracy)
SEED = 20260  # part of what makes the prepared int8 model reproducible; changing it changes the model
# Scene changes drawn with equal odds. Gradual ones last 4 to LONGEST_TRANSITION frames: an editor's
# 1 s dissolve at 30 fps is 30 frames, and a slow ramp is where quantisation noise moves a decision.
TRANSITIONS = ("cut", "cut", "dissolve", "fadeblack", "wipe")
LONGEST_TRANSITION = 40

Frames = npt.NDArray[np.uint8]
Scene = Callable[[int], npt.NDArray[np.int64]]  # frame number within the scene -> [27, 48, 3] int64 in 0..255

_Y, _X = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.int64)


def calibration_windows(count: int, seed: int = SEED) -> list[Frames]:
    """`count` windows of `[1, 100, 27, 48, 3]` uint8 frames, each with transitions at random frames."""
    if count < 1:
        raise ValueError(f"calibration needs at least one window, got {count}")
    rng = np.random.Generator(np.random.PCG64(seed))
    return [_window(rng)[None] for _ in range(count)]


@functools.cache
def fingerprint(count: int = COUNT, seed: int = SEED) -> str:
    """The first 12 hex digits of the sha256 of the calibration bytes: part of the int8 model's cache key,
    so a changed calibration set (data, count or seed) prepares a new model instead of reading an old one."""
    digest = hashlib.sha256()
    for window in calibration_windows(count, seed):
        digest.update(window.tobytes())
    return digest.hexdigest()[:12]


def _window(rng: np.random.Generator) -> Frames:
    frames: list[npt.NDArray[np.int64]] = []
    previous = _scene(rng)
    while len(frames) < WINDOW:
        length = int(rng.integers(8, 45))
        current = _scene(rng)
        kind = TRANSITIONS[int(rng.integers(0, len(TRANSITIONS)))]
        if frames and kind != "cut":
            frames += _transition(previous, current, int(rng.integers(4, LONGEST_TRANSITION + 1)), kind)
        frames += [current(t) for t in range(length)]
        previous = _continued(current, length)
    return np.clip(np.stack(frames[:WINDOW]), 0, 255).astype(np.uint8)


def _continued(scene: Scene, offset: int) -> Scene:
    return lambda t: scene(t + offset)


def _transition(old: Scene, new: Scene, length: int, kind: str) -> list[npt.NDArray[np.int64]]:
    """The `length` frames between two scenes, both moving on: a dissolve, a fade through black or a wipe."""
    out = []
    half = length // 2 or 1
    for i in range(1, length + 1):
        if kind == "fadeblack":
            out.append(old(i) * max(half - i, 0) // half if i <= half else new(i) * (i - half) // (length - half))
        elif kind == "wipe":  # the new scene pushes in from the left edge
            out.append(np.where(_X[..., None] < WIDTH * i // (length + 1), new(i), old(i)))
        else:
            out.append((old(i) * (length - i) + new(i) * i) // length)
    return out


def _scene(rng: np.random.Generator) -> Scene:
    kind = int(rng.integers(0, 5))
    colour = rng.integers(0, 256, 3)
    speed = rng.integers(-4, 5, 2)
    if kind == 0:  # a gradient drifting across the frame
        slopes = rng.integers(-9, 10, (3, 2))
        return lambda t: (colour + slopes[:, 0] * (_X[..., None] + speed[0] * t) + slopes[:, 1] * _Y[..., None]) % 256
    if kind == 1:  # a blocky picture (a low-resolution random image, nearest-upscaled) panning
        grid = rng.integers(0, 256, (HEIGHT // 3 + 4, WIDTH // 3 + 4, 3))
        return lambda t: _pan(grid, 3, speed * t)
    if kind == 2:  # an object moving over a still background
        background = rng.integers(0, 256, (HEIGHT // 9 + 2, WIDTH // 8 + 2, 3))
        size = rng.integers(5, 14, 2)
        start = rng.integers(0, 30, 2)
        return lambda t: _with_box(_pan(background, 8, np.zeros(2, np.int64)), start + speed * t, size, colour)
    if kind == 3:  # flat colour with sensor-like noise (a fresh draw per frame from a per-scene stream)
        seed = int(rng.integers(0, 2**31))
        return lambda t: colour + np.random.Generator(np.random.PCG64(seed + t)).integers(-12, 13, (HEIGHT, WIDTH, 3))
    fine = rng.integers(0, 256, (HEIGHT + 8, WIDTH + 8, 3))  # a detailed texture panning slowly
    return lambda t: _pan(fine, 1, speed * t // 2)


def _pan(grid: npt.NDArray[np.int64], scale: int, shift: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    rows = (_Y[:, 0] + int(shift[1])) // scale % grid.shape[0]
    cols = (_X[0] + int(shift[0])) // scale % grid.shape[1]
    panned: npt.NDArray[np.int64] = grid[rows][:, cols]
    return panned


def _with_box(
    frame: npt.NDArray[np.int64],
    corner: npt.NDArray[np.int64],
    size: npt.NDArray[np.int64],
    colour: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    out = frame.copy()
    top, left = int(corner[1]) % HEIGHT, int(corner[0]) % WIDTH
    out[top : top + int(size[1]), left : left + int(size[0])] = colour
    return out
