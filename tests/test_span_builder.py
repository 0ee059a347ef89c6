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
    density = draw(st.sampled_from([0.0, 0.002, 0.01, 0.05, 0.3]))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).random(n) < density


settings_strategy = st.fixed_dictionaries(
    {
        "min_length_s": st.sampled_from([None, 0.0, 0.5, 2.0, 3.5]),
        "max_length_s": st.sampled_from([None, 0.0, 1.0, 4.0, 10.0]),
        "max_length_mode": st.sampled_from(["stride", "truncate"]),
        "crop_s": st.sampled_from([None, 0.0, 0.2, 0.5]),
        "entire_scene_as_clip": st.booleans(),
        "limit_clips": st.integers(0, 4),
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


def test_a_piece_of_a_long_scene_leaves_when_its_last_frame_is_known() -> None:
    # 30 fps defaults: max_len 300, crop 15. One scene of 900 frames, no transition yet.
    tracker = SceneSpanTracker(SceneRules.from_seconds(30.0))
    assert tracker.push(np.zeros(299, bool)) == []
    assert tracker.push(np.zeros(1, bool)) == [(15, 285)]  # frame 299 completes the first piece
    assert tracker.push(np.zeros(300, bool)) == [(315, 585)]
    assert tracker.push(np.zeros(300, bool)) == [(615, 885)]
    assert tracker.finish() == []


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
    assert tracker.push(np.zeros(300, bool)) == [(15, 285)]
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
    assert tracker.finish() == [(10, 13)]
