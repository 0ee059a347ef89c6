"""The ground truth of an annotated video, and its score broken down by kind of transition.

A truth file is JSON written beside its video (`clip.mp4` -> `clip.truth.json`):

    {"video": "clip.mp4", "frames": 750, "fps": "30000/1001", "width": 640, "height": 360,
     "transitions": [{"kind": "cut", "last_before": 89, "first_after": 90},
                     {"kind": "dissolve", "last_before": 200, "first_after": 215}, ...]}

`last_before` is the last frame that shows only the outgoing shot, `first_after` the first that
shows only the incoming one; the frames between them are the transition's (none for a cut).

Per kind: a truth transition's hit or miss counts for its kind. A false positive counts for the
kind of the nearest truth transition when it lies within `NEAR_FRAMES` of it (a dissolve reported
twice, a fade's black frames taken as a shot), else it is an in-shot false alarm that only the
"all" row holds (motion, flashes). So each kind's precision says how cleanly that kind is reported.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import numpy as np

from streamclip.evaluation.scoring import Counts, Shots, match_transitions

KINDS = ("cut", "dissolve", "fade", "wipe")
ALL = "all"
IN_SHOT = "in-shot"  # false positives far from every truth transition
NEAR_FRAMES = 12


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    last_before: int
    first_after: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"transition kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not 0 <= self.last_before < self.first_after:
            raise ValueError(f"need 0 <= last_before < first_after, got {self.last_before}, {self.first_after}")


class GroundTruth(msgspec.Struct, frozen=True, kw_only=True):
    video: str  # file name of the video, in the truth file's folder
    frames: int
    fps: str  # exact rate, e.g. "30000/1001"
    width: int
    height: int
    transitions: list[Transition]

    def __post_init__(self) -> None:
        edges = [edge for t in self.transitions for edge in (t.last_before, t.first_after)]
        if edges != sorted(edges) or len(set(edges)) != len(edges):
            raise ValueError(f"{self.video}: transitions must be in order and must not overlap")
        if edges and edges[-1] >= self.frames:
            raise ValueError(f"{self.video}: a transition ends at frame {edges[-1]} of {self.frames}")

    def shots(self) -> Shots:
        """`[first, last]` frames of each shot, inclusive (the scoring's form)."""
        firsts = [0, *(t.first_after for t in self.transitions)]
        lasts = [*(t.last_before for t in self.transitions), self.frames - 1]
        return np.array([firsts, lasts], dtype=np.int64).T


def truth_path(video: Path) -> Path:
    return video.with_name(video.stem + ".truth.json")


def read_truth(path: Path) -> GroundTruth:
    try:
        return msgspec.json.decode(path.read_bytes(), type=GroundTruth)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a ground-truth file: {exc}") from exc


def write_truth(path: Path, truth: GroundTruth) -> None:
    """Written to a temporary name, then renamed: a truth file is whole or absent."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(truth), indent=1))
    os.replace(tmp, path)


def score_by_kind(truth: GroundTruth, predicted: Shots, tolerance: int) -> dict[str, Counts]:
    """Counts for "all", each kind present, and the in-shot false alarms (see the module docstring)."""
    matching = match_transitions(truth.shots(), predicted, tolerance)
    result: dict[str, Counts] = {ALL: matching.counts}
    for transition, found in zip(truth.transitions, matching.truth_found, strict=True):
        result[transition.kind] = result.get(transition.kind, Counts()) + Counts(int(found), 0, int(not found))
    for index in matching.unmatched_predictions:
        kind = _nearest_kind(truth, matching.predicted_intervals[index])
        result[kind] = result.get(kind, Counts()) + Counts(0, 1, 0)
    return result


def _nearest_kind(truth: GroundTruth, interval: np.ndarray) -> str:
    best, kind = float(NEAR_FRAMES), IN_SHOT
    for t in truth.transitions:
        gap = max(0.0, t.last_before - float(interval[1]), float(interval[0]) - t.first_after)
        if gap <= best:
            best, kind = gap, t.kind
    return kind
