"""The streaming span builder agrees with `scene_spans` frame for frame, in any chunking."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streamclip.actors.span_builder import SceneSpanTracker
from streamclip.contract.rules import SceneRules, scene_spans

FPS = [12.5, 23.976, 24.0, 25.0, 29.97, 30.0, 59.94]


@st.composite
def masks(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(0, 900))
    density = draw(st.sampled_from([0.0, 0.002, 0.01, 0.05, 0.3, 0.9, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    mask = np.random.default_rng(seed).random(n) < density
    mask[: draw(st.integers(0, 3))] = draw(st.booleans())  # a transition (or none) in the first frames
    return mask


settings_strategy = st.fixed_dictionaries(
    {
        "min_length_s": st.sampled_from([None, 0.0, 0.5, 2.0, 3.5]),
        "max_length_s": st.sampled_from([None, 0.0, 1.0, 4.0, 10.0]),
        "max_length_mode": st.sampled_from(["stride", "truncate"]),
        "crop_s": st.sampled_from([None, 0.0, 0.2, 0.5]),
        "entire_scene_as_clip": st.booleans(),
        "limit_clips": st.integers(0, 4),
        "scene_edges": st.sampled_from(["curator", "runs"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(mask=masks(), fps=st.sampled_from(FPS), options=settings_strategy, chunk_seed=st.integers(0, 2**32 - 1))
def test_streaming_spans_equal_scene_spans(
    mask: np.ndarray, fps: float, options: dict[str, object], chunk_seed: int
) -> None:
    tracker = SceneSpanTracker(SceneRules.from_seconds(fps, **options))  # type: ignore[arg-type]
    rng = np.random.default_rng(chunk_seed)
    streamed: list[tuple[int, int]] = []
    start = 0
    while start < len(mask):
        size = int(rng.integers(1, 120))
        streamed += tracker.push(mask[start : start + size])
        start += size
    streamed += tracker.finish()
    assert streamed == scene_spans(mask, fps, **options)  # type: ignore[arg-type]


def test_a_piece_of_a_long_scene_leaves_when_the_frame_after_it_is_known() -> None:
    # 30 fps defaults: max_len 300, crop 15. One scene of 900 frames, no transition yet. A piece is
    # final once the next frame shows that its last frame is not the video's (Curator's last frame).
    tracker = SceneSpanTracker(SceneRules.from_seconds(30.0))
    assert tracker.push(np.zeros(300, bool)) == []
    assert tracker.push(np.zeros(1, bool)) == [(15, 285)]  # frame 300 completes the first piece
    assert tracker.push(np.zeros(300, bool)) == [(315, 585)]
    assert tracker.push(np.zeros(299, bool)) == []
    assert tracker.finish() == [(615, 885)]  # no transition: the whole video, its last frame included


def test_with_plain_runs_a_piece_leaves_when_its_last_frame_is_known() -> None:
    tracker = SceneSpanTracker(SceneRules.from_seconds(30.0, scene_edges="runs"))
    assert tracker.push(np.zeros(299, bool)) == []
    assert tracker.push(np.zeros(1, bool)) == [(15, 285)]  # frame 299 completes the first piece
    assert tracker.push(np.zeros(300, bool)) == [(315, 585)]
    assert tracker.push(np.zeros(300, bool)) == [(615, 885)]
    assert tracker.finish() == []


def test_the_last_scene_ends_before_the_last_frame() -> None:
    rules = SceneRules(min_len=2)
    tracker = SceneSpanTracker(rules)
    assert tracker.push([False] * 5 + [True] + [False] * 4) == [(0, 5)]
    assert tracker.finish() == [(6, 9)]  # frame 9, the last, is in no scene
    ending_in_a_transition = SceneSpanTracker(rules)
    assert ending_in_a_transition.push([False] * 5 + [True] + [False] * 4 + [True, True]) == [(0, 5), (6, 10)]
    assert ending_in_a_transition.finish() == []


def test_after_a_transition_at_frame_0_spans_wait_for_another_transition() -> None:
    rules = SceneRules(min_len=2, max_len=4)
    tracker = SceneSpanTracker(rules)
    assert tracker.push([True, True] + [False] * 10) == []  # [2, 6) and [6, 10) may yet be no clips
    assert tracker.earliest_future_start == 0  # the whole video may be the one scene
    assert tracker.push([True]) == [(2, 6), (6, 10), (10, 12)]
    assert tracker.earliest_future_start == 13

    alone = SceneSpanTracker(rules)
    assert alone.push([True, True] + [False] * 10) == []
    assert alone.finish() == [(0, 4), (4, 8), (8, 12)]  # the whole video, the transition included

    all_transition = SceneSpanTracker(SceneRules(min_len=2))
    assert all_transition.push([True] * 6) == []
    assert all_transition.finish() == [(0, 6)]


def test_without_entire_scene_as_clip_spans_wait_for_the_first_transition() -> None:
    rules = SceneRules.from_seconds(30.0, entire_scene_as_clip=False)
    tracker = SceneSpanTracker(rules)
    assert tracker.push(np.zeros(300, bool)) == []  # could still be a video with no transition
    assert tracker.push(np.array([True])) == [(15, 285)]
    assert tracker.finish() == []

    no_cut = SceneSpanTracker(rules)
    assert no_cut.push(np.zeros(900, bool)) == []
    assert no_cut.finish() == []


def test_limit_clips_marks_the_tracker_done() -> None:
    tracker = SceneSpanTracker(SceneRules.from_seconds(30.0, limit_clips=1))
    assert tracker.push(np.zeros(301, bool)) == [(15, 285)]
    assert tracker.done
    assert tracker.push(np.zeros(300, bool)) == []


def test_earliest_future_start_and_cut_here() -> None:
    """What a live source's spool may delete (nothing a later span can start in), and a scene
    closed where the spool limit says, going on as a new scene."""
    from streamclip.actors.span_builder import SceneSpanTracker
    from streamclip.contract.rules import SceneRules

    rules = SceneRules(min_len=2, max_len=0, crop=0, mode="stride", entire_scene_as_clip=True, limit_clips=0)
    tracker = SceneSpanTracker(rules)
    assert tracker.push([False] * 5) == []
    assert tracker.earliest_future_start == 0  # the open scene started at 0
    assert tracker.push([True]) == [(0, 5)]
    assert tracker.earliest_future_start == 6  # inside a transition: the next scene starts later
    tracker.push([False] * 4)
    assert tracker.earliest_future_start == 6
    assert tracker.cut_here() == [(6, 10)]
    assert tracker.earliest_future_start == 10
    tracker.push([False] * 3)
    assert tracker.finish() == [(10, 12)]  # the last frame, 12, is in no scene


def test_a_cut_at_the_spool_limit_is_a_scene_boundary() -> None:
    """A live source whose only transition is at frame 0 (or none, without entire_scene_as_clip)
    would hold every span and frame until it ends: the cut decides, as a transition would."""
    rules = SceneRules(min_len=2)
    leading = SceneSpanTracker(rules)
    leading.push([True] + [False] * 9)
    assert leading.earliest_future_start == 0
    assert leading.cut_here() == [(1, 10)]
    assert leading.earliest_future_start == 10
    leading.push([False] * 5)
    assert leading.finish() == [(10, 14)]

    held = SceneSpanTracker(SceneRules(min_len=2, entire_scene_as_clip=False))
    assert held.push([False] * 10) == []
    assert held.cut_here() == [(0, 10)]
    held.push([False] * 5)
    assert held.finish() == [(10, 14)]

    in_transition = SceneSpanTracker(rules)
    in_transition.push([True] * 10)
    assert in_transition.cut_here() == []
    assert in_transition.earliest_future_start == 10
    in_transition.push([True] * 2 + [False] * 5)
    assert in_transition.finish() == [(12, 16)]  # not the whole video: the cut was a boundary
