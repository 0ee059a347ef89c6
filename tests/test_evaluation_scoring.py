"""The scoring protocol of TransNetV2/AutoShot on hand-made cases, and AutoShot's published F1 from its own files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamclip.evaluation.published import check_published
from streamclip.evaluation.scoring import Counts, score, shots_from_decisions, shots_from_probabilities
from streamclip.evaluation.truth import GroundTruth, Transition, score_by_kind

PUBLISHED_FILES = Path(__file__).parent.parent.parent / "shared" / "eval" / "autoshot"


def shots(*pairs: tuple[int, int]) -> np.ndarray:
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def cut_after(frame: int, frames: int = 100) -> np.ndarray:
    """Two shots with a hard cut after `frame` (the last frame of the first shot)."""
    return shots((0, frame), (frame + 1, frames - 1))


def test_a_decision_marks_the_last_frame_of_the_outgoing_shot() -> None:
    decisions = np.zeros(10, bool)
    decisions[4] = True
    assert shots_from_decisions(decisions).tolist() == [[0, 4], [5, 9]]


def test_runs_of_transition_frames_the_reference_way() -> None:
    # A shot ends on the first frame of the next run; a run at frame 0 and one at the end close nothing more.
    assert shots_from_decisions([1, 1, 0, 0, 1, 1, 0, 0, 1]).tolist() == [[2, 4], [6, 8]]
    assert shots_from_decisions([1, 1, 1]).tolist() == [[0, 2]]
    assert shots_from_decisions([0, 0, 0]).tolist() == [[0, 2]]


def test_the_threshold_is_strict() -> None:
    assert shots_from_probabilities([0.1, 0.4, 0.1, 0.1], 0.4).tolist() == [[0, 3]]
    assert shots_from_probabilities([0.1, 0.41, 0.1, 0.1], 0.4).tolist() == [[0, 1], [2, 3]]


@pytest.mark.parametrize(("offset", "hit_at_0", "hit_at_2"), [(0, True, True), (1, False, True), (-2, False, True),
                                                              (3, False, False), (-3, False, False)])  # fmt: skip
def test_tolerance_edges(offset: int, hit_at_0: bool, hit_at_2: bool) -> None:
    truth = cut_after(49)
    predicted = cut_after(49 + offset)
    assert score(truth, predicted, 0) == (Counts(1, 0, 0) if hit_at_0 else Counts(0, 1, 1))
    assert score(truth, predicted, 2) == (Counts(1, 0, 0) if hit_at_2 else Counts(0, 1, 1))


def test_no_predictions_are_all_misses_and_precision_zero() -> None:
    counts = score(shots((0, 9), (10, 19), (20, 29)), shots((0, 29)), 2)
    assert counts == Counts(0, 0, 2)
    assert (counts.precision, counts.recall, counts.f1) == (0.0, 0.0, 0.0)


def test_no_truth_transitions_make_every_prediction_a_false_positive() -> None:
    assert score(shots((0, 29)), shots((0, 9), (10, 29)), 2) == Counts(0, 1, 0)


def test_one_prediction_spanning_two_truth_transitions_is_one_hit_and_one_miss() -> None:
    truth = shots((0, 9), (11, 12), (14, 29))  # two short transitions close together
    predicted = shots((0, 9), (14, 29))  # detected as one long transition
    assert score(truth, predicted, 2) == Counts(1, 0, 1)


def test_two_predictions_inside_one_dissolve_are_a_hit_and_a_false_positive() -> None:
    truth = shots((0, 9), (20, 39))  # frames 10..19: a dissolve
    predicted = shots((0, 11), (13, 15), (17, 39))
    assert score(truth, predicted, 2) == Counts(1, 1, 0)


def test_a_dissolve_is_found_by_a_prediction_anywhere_inside_it() -> None:
    truth = shots((0, 9), (20, 39))
    assert score(truth, shots((0, 14), (15, 39)), 0) == Counts(1, 0, 0)
    assert score(truth, shots((0, 22), (23, 39)), 0) == Counts(0, 1, 1)
    assert score(truth, shots((0, 22), (23, 39)), 2) == Counts(0, 1, 1)  # 3 frames after it
    assert score(truth, shots((0, 20), (21, 39)), 2) == Counts(1, 0, 0)


def test_rates_from_summed_counts() -> None:
    total = Counts(3, 1, 0) + Counts(1, 0, 4)
    assert total == Counts(4, 1, 4)
    assert (total.precision, total.recall) == (0.8, 0.5)
    assert total.f1 == pytest.approx(2 * 0.8 * 0.5 / 1.3)


def test_per_kind_counts_and_false_positives_near_a_transition() -> None:
    truth = GroundTruth(
        video="v.mp4", frames=300, fps="25/1", width=64, height=36,
        transitions=[Transition(kind="cut", last_before=49, first_after=50),
                     Transition(kind="dissolve", last_before=100, first_after=120),
                     Transition(kind="fade", last_before=200, first_after=220)],
    )  # fmt: skip
    # cut found, dissolve found twice, fade missed, and a false alarm in the middle of a shot
    predicted = shots((0, 49), (50, 105), (106, 114), (115, 160), (161, 299))
    counts = score_by_kind(truth, predicted, 2)
    assert counts["all"] == Counts(2, 2, 1)
    assert counts["cut"] == Counts(1, 0, 0)
    assert counts["dissolve"] == Counts(1, 1, 0)
    assert counts["fade"] == Counts(0, 0, 1)
    assert counts["in-shot"] == Counts(0, 1, 0)


def test_truth_must_be_ordered_and_inside_the_video() -> None:
    with pytest.raises(ValueError, match="in order"):
        GroundTruth(video="v.mp4", frames=100, fps="25/1", width=8, height=8,
                    transitions=[Transition(kind="cut", last_before=50, first_after=51),
                                 Transition(kind="cut", last_before=20, first_after=21)])  # fmt: skip
    with pytest.raises(ValueError, match="ends at frame"):
        GroundTruth(video="v.mp4", frames=100, fps="25/1", width=8, height=8,
                    transitions=[Transition(kind="wipe", last_before=90, first_after=100)])  # fmt: skip
    with pytest.raises(ValueError, match="kind"):
        Transition(kind="flash", last_before=1, first_after=2)


def test_autoshot_published_f1_from_its_own_files() -> None:
    """AutoShot's saved predictions on its 200 SHOT test videos give the F1 its authors publish."""
    if not (PUBLISHED_FILES / "gt_scenes_dict_baseline_v2.pickle").is_file():
        pytest.skip(f"AutoShot's published ground truth and predictions are not at {PUBLISHED_FILES}")
    checks = check_published(PUBLISHED_FILES)
    assert [(c.threshold, round(c.counts.f1, 4)) for c in checks] == [(0.296, 0.8405), (0.4, 0.835), (0.5, 0.8295)]
    assert all(c.counts == c.published_counts for c in checks)
