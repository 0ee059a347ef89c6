"""Precision, recall and F1 of shot transitions, the way TransNetV2 and AutoShot publish them.

Shots are `[k, 2]` integer arrays of `[first_frame, last_frame]`, both inclusive. A transition is
the gap between two consecutive shots (empty for a hard cut, the mixed frames of a dissolve). The
protocol (TransNetV2's `evaluate_scenes`, reused unchanged by AutoShot):

- Predictions become shots at a threshold: frame `f` is a transition frame iff `p[f] > threshold`;
  a shot runs from the frame after a run of transition frames up to and *including* the first
  transition frame of the next run (the reference's convention, kept so its figures reproduce).
  A transition at frame 0 is ignored; a video whose frames are all transitions is one shot.
- Every transition becomes an interval on the frame axis, widened by the tolerance: with
  tolerance `t` each shot `[a, b]` is taken as `[a - 0.5 + t/2, b + 0.5 - t/2]` and the transition
  between shots `x` and `y` is `[x.last, y.first]` of those. Tolerance 0: a cut must fall exactly
  between the same two frames; tolerance 2: it may be off by up to two frames.
- Truth and predicted transitions, both in time order, are matched greedily: the earlier one of the
  two heads is dropped as a miss while they do not overlap; overlapping heads are one hit. So a
  prediction matches at most one truth transition: one predicted transition spanning two truth ones
  is one hit and one miss; two predictions inside one truth transition are one hit and one false
  positive.
- Counts are summed over videos before precision and recall are computed (micro average).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Shots = npt.NDArray[np.int64]  # [k, 2]: first and last frame of each shot, inclusive
TOLERANCES = (0, 2)  # frames; 2 is the published protocol's


@dataclass(frozen=True)
class Counts:
    """Hits, false positives and misses; add them up over videos, then read the rates."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
        )

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Matching:
    """Which truth transitions were found and which predicted ones matched nothing (indices in order)."""

    truth_found: list[bool] = field(default_factory=list)
    unmatched_predictions: list[int] = field(default_factory=list)
    predicted_intervals: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def counts(self) -> Counts:
        hits = sum(self.truth_found)
        return Counts(hits, len(self.unmatched_predictions), len(self.truth_found) - hits)


def shots_from_decisions(is_transition: npt.ArrayLike) -> Shots:
    """Shots of a video from its per-frame transition decisions (see the module docstring)."""
    flags = np.asarray(is_transition, dtype=bool).reshape(-1)
    if flags.size == 0:
        raise ValueError("no frames: a video needs at least one frame to have shots")
    previous = np.concatenate([[False], flags[:-1]])
    run_starts = np.flatnonzero(flags & ~previous)  # first frame of each run of transition frames
    run_ends = np.flatnonzero(~flags & previous)  # first frame after each run
    run_starts = run_starts[run_starts != 0]  # a transition at frame 0 closes no shot
    firsts = np.concatenate([[0], run_ends]) if not flags[0] else run_ends
    lasts = run_starts
    if not flags[-1]:
        lasts = np.concatenate([lasts, [flags.size - 1]])
    if lasts.size == 0:
        return np.array([[0, flags.size - 1]], dtype=np.int64)
    return np.stack([firsts[: lasts.size], lasts], axis=1).astype(np.int64)


def shots_from_probabilities(probabilities: npt.ArrayLike, threshold: float) -> Shots:
    """Shots at `threshold`: frame `f` is a transition iff `p[f] > threshold` (strict, as the pipeline decides)."""
    return shots_from_decisions(np.asarray(probabilities, dtype=np.float64).reshape(-1) > threshold)


def transition_intervals(shots: Shots, tolerance: int) -> npt.NDArray[np.float64]:
    """`[k - 1, 2]` intervals of the transitions between consecutive shots, widened by `tolerance` frames."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 frames, got {tolerance}")
    shots = np.asarray(shots, dtype=np.int64).reshape(-1, 2)
    shift = tolerance / 2
    ends = shots[:-1, 1] + 0.5 - shift
    starts = shots[1:, 0] - 0.5 + shift
    return np.stack([ends, starts], axis=1).astype(np.float64)


def match_transitions(truth: Shots, predicted: Shots, tolerance: int = 2) -> Matching:
    """Match the transitions of predicted shots to those of true shots (greedy, in time order)."""
    want = transition_intervals(truth, tolerance)
    got = transition_intervals(predicted, tolerance)
    found = [False] * len(want)
    unmatched: list[int] = []
    i = j = 0
    while i < len(want) and j < len(got):
        if got[j, 1] < want[i, 0]:  # the prediction ends before the truth transition starts
            unmatched.append(j)
            j += 1
        elif got[j, 0] > want[i, 1]:  # the truth transition ends before the prediction starts
            i += 1
        else:
            found[i] = True
            i += 1
            j += 1
    unmatched.extend(range(j, len(got)))
    return Matching(found, unmatched, got)


def score(truth: Shots, predicted: Shots, tolerance: int = 2) -> Counts:
    """The published protocol's counts for one video."""
    return match_transitions(truth, predicted, tolerance).counts
