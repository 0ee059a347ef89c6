"""Geometry of a video page's SVG: the probability curve, the threshold, the cuts and the bands.

Numbers only; the template draws them. One time axis for everything: x is the frame index scaled
to `WIDTH` units (the SVG scales to the page). The curve keeps each pixel's maximum, so a one-frame
spike in a long video still shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamclip.review.model import VideoEntry

WIDTH = 1000.0
CURVE_HEIGHT = 140.0
BAND_HEIGHT = 16.0
BAND_GAP = 6.0
MAX_POINTS = 2000  # two points per unit of width is finer than any screen shows


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    kind: str  # scene, clip, or a dropped rule
    label: str
    href: str = ""


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass
class Chart:
    frames: int
    fps: float
    curve: str = ""  # polyline points, "" without probabilities
    threshold_y: float | None = None
    cuts: list[float] = field(default_factory=list)
    splits: list[float] = field(default_factory=list)
    rows: list[tuple[str, list[Band]]] = field(default_factory=list)  # (row name, bands)
    ticks: list[Tick] = field(default_factory=list)
    width: float = WIDTH
    curve_height: float = CURVE_HEIGHT
    band_height: float = BAND_HEIGHT
    band_gap: float = BAND_GAP

    @property
    def has_curve(self) -> bool:
        return bool(self.curve)

    @property
    def bands_top(self) -> float:
        return self.curve_height + 24.0 if self.has_curve else 4.0

    def row_y(self, row: int) -> float:
        return self.bands_top + row * (self.band_height + self.band_gap)

    @property
    def height(self) -> float:
        return self.row_y(len(self.rows)) + 18.0


def chart_of(entry: VideoEntry) -> Chart | None:
    """The chart of a video, or None when nothing is known of its frames yet."""
    fps = entry.fps or 0.0
    probs = entry.probabilities
    frames = max(entry.num_frames or 0, len(probs) if probs is not None else 0)
    if fps <= 0 or frames <= 0:
        return None
    chart = Chart(frames=frames, fps=fps)
    x = _scale(frames)
    if probs is not None and len(probs):
        chart.curve = _curve(probs.astype(np.float32), frames)
        chart.threshold_y = CURVE_HEIGHT * (1.0 - float(entry.threshold or 0.0))
        chart.cuts = [x(cut["start_frame"] + (cut["end_frame"] - cut["start_frame"]) / 2) for cut in entry.cuts]
    chart.splits = [x(split["frame"]) for split in entry.splits]
    chart.rows = _rows(entry, x)
    chart.ticks = _ticks(frames, fps)
    return chart


def _scale(frames: int) -> Any:
    return lambda frame: round(WIDTH * frame / frames, 2)


def _curve(probs: np.ndarray[Any, np.dtype[np.float32]], frames: int) -> str:
    """Polyline points of the per-bucket maximum, each bucket drawn at its middle."""
    buckets = min(len(probs), MAX_POINTS)
    edges = np.linspace(0, len(probs), buckets + 1).astype(int)
    peaks = np.maximum.reduceat(probs, edges[:-1])
    middles = (edges[:-1] + edges[1:]) / 2
    xs = WIDTH * middles / frames
    ys = CURVE_HEIGHT * (1.0 - np.clip(peaks, 0.0, 1.0))
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in zip(xs, ys, strict=True))


def _band(x: Any, item: dict[str, Any], kind: str, label: str, href: str = "") -> Band:
    left, right = x(item["start_frame"]), x(item["end_frame"])
    return Band(x=left, width=max(right - left, 0.6), kind=kind, label=label, href=href)


def _rows(entry: VideoEntry, x: Any) -> list[tuple[str, list[Band]]]:
    scenes = [
        _band(x, scene, "scene", f"scene {n}: {scene['start_s']:.2f}-{scene['end_s']:.2f} s")
        for n, scene in enumerate(entry.scenes)
    ]
    clips = [
        _band(x, vars(card), "clip", f"clip {card.index}: {card.start_s:.2f}-{card.end_s:.2f} s", f"#clip-{card.index}")
        for card in entry.clips
    ]
    dropped = [
        _band(x, d, f"drop-{d['rule']}", f"{d['rule']}: {d['start_s']:.2f}-{d['end_s']:.2f} s, {d['why']}")
        for d in entry.dropped
    ]
    rows = [("scenes", scenes)] if entry.mode == "scenes" else []
    return [*rows, ("clips", clips), ("dropped", dropped)]


def _ticks(frames: int, fps: float) -> list[Tick]:
    """About eight labelled seconds on a 1-2-5 step."""
    duration = frames / fps
    raw = duration / 8
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    count = int(duration // step) + 1
    return [Tick(x=round(WIDTH * k * step * fps / frames, 2), label=_seconds(k * step)) for k in range(count)]


def _seconds(value: float) -> str:
    if value >= 60:
        return f"{int(value // 60)}:{value % 60:04.1f}".rstrip("0").rstrip(".")
    return f"{value:g} s"
