"""Tests for streamclip.contract.rules: span rules, clip identity and frame sampling (DESIGN.md section 2)."""

from __future__ import annotations

import itertools
import math
import uuid
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamclip.contract.rules import (
    SceneRules,
    _scenes,
    clip_uuid,
    fixed_stride_spans,
    has_scene_boundary,
    middle_index,
    sample_frame_indices,
    scene_spans,
    seconds_to_frame,
)

NTSC = 30000 / 1001
# Float frame rates with the exact rational each one stands for.
RATES = {
    23.976: Fraction(2997, 125),
    24000 / 1001: Fraction(24000, 1001),
    24.0: Fraction(24),
    25.0: Fraction(25),
    29.97: Fraction(2997, 100),
    NTSC: Fraction(30000, 1001),
    30.0: Fraction(30),
    50.0: Fraction(50),
    59.94: Fraction(2997, 50),
    60000 / 1001: Fraction(60000, 1001),
    60.0: Fraction(60),
    12.5: Fraction(25, 2),
}
PROPS = settings(max_examples=200, deadline=None)


def mask_with(n: int, transitions: list[int]) -> list[bool]:
    """A length-n mask with the given frames marked as transitions."""
    return [i in transitions for i in range(n)]


# --- reference implementation, written independently of SceneRules -----------------------------


def reference_scenes(mask: list[bool], entire: bool, edges: str) -> list[tuple[int, int]]:
    """Scenes as NeMo Curator 1.4.0 forms them ("curator"), or plain non-transition runs ("runs")."""
    n = len(mask)
    runs = []
    current = None
    for i, is_transition in enumerate(mask):
        if is_transition:
            if current is not None:
                runs.append((current, i))
            current = None
        elif current is None:
            current = i
    if current is not None:
        runs.append((current, n))
    if edges == "runs":
        has_boundary = True in mask
    else:  # a transition counts only once a scene frame came before it
        first_scene_frame = mask.index(False) if False in mask else n
        has_boundary = True in mask[first_scene_frame:]
    if not has_boundary:
        return [(0, n)] if entire and (n or edges == "curator") else []
    if edges == "curator" and not mask[-1]:
        start, _ = runs.pop()  # the last frame of a video with a transition is in no scene
        runs.append((start, n - 1))
    return runs


def reference_scene_spans(
    mask: list[bool],
    fps: float,
    min_s: float | None,
    max_s: float | None,
    mode: str,
    crop_s: float | None,
    entire: bool,
    limit: int,
    edges: str = "curator",
) -> list[tuple[int, int]]:
    """Frame-by-frame scene building, then each rule applied step by step."""
    min_len = int(min_s * fps) if min_s else 0
    max_len = int(max_s * fps) if max_s else 0
    crop = int(crop_s * fps) if crop_s else 0
    scenes = reference_scenes(mask, entire, edges)

    out = []
    for start, end in scenes:
        # (a) max length
        if max_len == 0:
            pieces = [(start, end)]
        elif mode == "truncate":
            pieces = [(start, min(start + max_len, end))]
        else:
            pieces = []
            s = start
            while s < end:
                pieces.append((s, min(s + max_len, end)))
                s += max_len
            if pieces and pieces[-1][1] - pieces[-1][0] < min_len:
                pieces.pop()
        for s, e in pieces:
            # (b) crop
            s, e = s + crop, e - crop
            if e <= s:
                continue
            # (c) min length
            if e - s >= min_len:
                out.append((s, e))
    return out[:limit] if limit > 0 else out


@st.composite
def masks(draw: st.DrawFn) -> list[bool]:
    """Masks of length 0..600 with sparse, sometimes bursty, transitions."""
    n = draw(st.integers(0, 600))
    if n == 0:
        return []
    starts = draw(st.lists(st.integers(0, n - 1), max_size=15))
    if draw(st.booleans()):
        starts += [0, n - 1][: draw(st.integers(1, 2))]  # transitions at the very start and end
    bursts = draw(st.lists(st.integers(1, 4), min_size=len(starts), max_size=len(starts)))
    marked = {i for s, b in zip(starts, bursts, strict=True) for i in range(s, min(s + b, n))}
    return [i in marked for i in range(n)]


scene_settings = st.fixed_dictionaries(
    {
        "fps": st.sampled_from([23.976, 24.0, 25.0, 29.97, NTSC, 30.0, 50.0, 59.94, 60.0, 12.5]),
        "min_length_s": st.sampled_from([None, 0, 0.0, 0.3, 1.0, 2.0, 3.3]),
        "max_length_s": st.sampled_from([None, 0, 0.5, 1.0, 2.5, 5.0, 10.0]),
        "max_length_mode": st.sampled_from(["stride", "truncate"]),
        "crop_s": st.sampled_from([None, 0, 0.1, 0.5, 1.0]),
        "entire_scene_as_clip": st.booleans(),
        "limit_clips": st.integers(0, 5),
        "scene_edges": st.sampled_from(["curator", "runs"]),
    }
)


# --- scene_spans: worked examples -----------------------------------------------------------------


def test_worked_example_with_transitions() -> None:
    # Scenes [0, 299), [301, 600), [601, 899): the last frame, 899, is in no scene (Curator).
    mask = mask_with(900, [299, 300, 600])
    assert scene_spans(mask, 30.0) == [(15, 284), (316, 585), (616, 884)]
    assert scene_spans(mask, 30.0, scene_edges="runs") == [(15, 284), (316, 585), (616, 885)]


def test_last_scene_of_a_long_video_strides_to_the_frame_before_the_end() -> None:
    # One cut at 100; the last scene is [101, 1000): stride pieces 101-401-701-999, each cropped by 15.
    assert scene_spans(mask_with(1000, [100]), 30.0)[-1] == (716, 984)
    # 1001 frames: the last piece is a whole 300 frames, [701, 1000).
    assert scene_spans(mask_with(1001, [100]), 30.0)[-1] == (716, 985)


def test_a_transition_at_frame_0_closes_no_scene() -> None:
    leading = mask_with(300, [0, 1])
    assert scene_spans(leading, 30.0, max_length_s=None) == [(15, 285)]  # the whole video, the cut included
    assert scene_spans(leading, 30.0, max_length_s=None, entire_scene_as_clip=False) == []
    assert scene_spans(leading, 30.0, max_length_s=None, scene_edges="runs") == [(17, 285)]
    # With another transition later, the first scene starts after the one at frame 0.
    assert scene_spans(mask_with(300, [0, 1, 150]), 30.0, crop_s=None, min_length_s=None) == [(2, 150), (151, 299)]


def test_a_video_ending_inside_a_transition_keeps_its_last_scene_whole() -> None:
    mask = mask_with(300, [150, 297, 298, 299])
    assert scene_spans(mask, 30.0, crop_s=None, min_length_s=None) == [(0, 150), (151, 297)]


def test_a_last_scene_of_one_frame_is_empty() -> None:
    mask = mask_with(300, [150, 298])
    assert scene_spans(mask, 30.0, crop_s=None, min_length_s=None) == [(0, 150), (151, 298)]
    assert _scenes(np.array(mask), True) == [(0, 150), (151, 298), (299, 299)]  # as Curator returns it
    # Even with truncation and no crop or minimum, an empty scene gives no (empty) span.
    assert scene_spans(mask, 30.0, crop_s=None, min_length_s=None, max_length_mode="truncate")[-1] == (151, 298)


def test_worked_example_without_transitions() -> None:
    assert scene_spans([False] * 900, 30.0) == [(15, 285), (315, 585), (615, 885)]


def test_numpy_mask_equals_list_mask() -> None:
    mask = mask_with(900, [299, 300, 600])
    assert scene_spans(np.array(mask), 30.0) == scene_spans(mask, 30.0)


def test_empty_video() -> None:
    assert scene_spans([], 30.0) == []
    assert scene_spans(np.zeros(0, dtype=bool), 30.0) == []


def test_no_transition_and_not_entire_scene() -> None:
    assert scene_spans([False] * 900, 30.0, entire_scene_as_clip=False) == []


def test_entire_scene_flag_only_matters_without_transitions() -> None:
    mask = mask_with(900, [299, 300, 600])
    assert scene_spans(mask, 30.0, entire_scene_as_clip=False) == scene_spans(mask, 30.0)


def test_all_transitions() -> None:
    # Curator: no transition starts after a scene frame, so the whole video is one scene.
    assert scene_spans([True] * 100, 30.0, min_length_s=0, crop_s=0) == [(0, 100)]
    assert scene_spans([True] * 100, 30.0, min_length_s=0, crop_s=0, entire_scene_as_clip=False) == []
    assert scene_spans([True] * 100, 30.0, min_length_s=0, crop_s=0, scene_edges="runs") == []


def test_ntsc_settings_in_frames() -> None:
    # 2.0 s -> 59.94 -> 59; 10.0 s -> 299.7 -> 299; 0.5 s -> 14.985 -> 14.
    assert SceneRules.from_seconds(NTSC) == SceneRules(min_len=59, max_len=299, crop=14)


def test_ntsc_stride_one_long_scene() -> None:
    # Pieces of 299: 0, 299, 598, 897, 1196, 1495, 1794-2000 (206 >= 59, kept); each cropped by 14.
    assert scene_spans([False] * 2000, NTSC) == [
        (14, 285),
        (313, 584),
        (612, 883),
        (911, 1182),
        (1210, 1481),
        (1509, 1780),
        (1808, 1986),
    ]


def test_ntsc_stride_drops_short_last_piece() -> None:
    # Last piece 1495-1540 is 45 frames < 59: dropped before cropping.
    assert scene_spans([False] * 1540, NTSC) == [
        (14, 285),
        (313, 584),
        (612, 883),
        (911, 1182),
        (1210, 1481),
    ]


def test_ntsc_stride_last_piece_too_short_after_crop() -> None:
    # Last piece 1495-1554 is exactly 59 frames (kept by the stride), cropped to 31 < 59: dropped.
    assert scene_spans([False] * 1554, NTSC)[-1] == (1210, 1481)


def test_ntsc_truncate_one_long_scene() -> None:
    assert scene_spans([False] * 2000, NTSC, max_length_mode="truncate") == [(14, 285)]


def test_limit_clips() -> None:
    assert scene_spans([False] * 900, 30.0, limit_clips=2) == [(15, 285), (315, 585)]
    assert scene_spans([False] * 900, 30.0, limit_clips=10) == [(15, 285), (315, 585), (615, 885)]


@pytest.mark.parametrize("crop", [0, 0.0, None])
def test_crop_disabled(crop: float | None) -> None:
    assert scene_spans([False] * 900, 30.0, crop_s=crop) == [(0, 300), (300, 600), (600, 900)]


@pytest.mark.parametrize("minimum", [0, None])
def test_min_disabled_keeps_every_nonempty_span(minimum: float | None) -> None:
    mask = mask_with(20, [1, 3, 4])
    assert scene_spans(mask, 30.0, min_length_s=minimum, crop_s=None) == [(0, 1), (2, 3), (5, 19)]


def test_min_disabled_keeps_short_last_stride() -> None:
    spans = scene_spans([False] * 310, 30.0, min_length_s=None, crop_s=None)
    assert spans == [(0, 300), (300, 310)]


@pytest.mark.parametrize("maximum", [0, None])
def test_max_disabled(maximum: float | None) -> None:
    assert scene_spans([False] * 900, 30.0, max_length_s=maximum) == [(15, 885)]


def test_crop_empties_short_scene() -> None:
    # Scenes of 20 and 19 frames lose 15 frames at each end: nothing is left.
    assert scene_spans(mask_with(40, [20]), 30.0, min_length_s=0) == []


def test_scene_rules_pieces() -> None:
    rules = SceneRules(min_len=60, max_len=300, crop=15)
    assert rules.pieces(0, 900) == [(15, 285), (315, 585), (615, 885)]
    assert rules.pieces(10, 10) == []
    assert rules.limit([(0, 1), (2, 3)]) == [(0, 1), (2, 3)]
    assert SceneRules(limit_clips=1).limit([(0, 1), (2, 3)]) == [(0, 1)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fps": 0.0},
        {"fps": -30.0},
        {"fps": 30.0, "max_length_mode": "chop"},
        {"fps": 30.0, "limit_clips": -1},
        {"fps": 30.0, "crop_s": -0.5},
        {"fps": 30.0, "scene_edges": "plain"},
    ],
)
def test_scene_spans_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        scene_spans([False] * 10, **kwargs)  # type: ignore[arg-type]


# --- scene_spans: properties ----------------------------------------------------------------------


@PROPS
@given(mask=masks(), kwargs=scene_settings, as_array=st.booleans())
def test_scene_spans_matches_reference(mask: list[bool], kwargs: dict[str, object], as_array: bool) -> None:
    got = scene_spans(np.array(mask, dtype=bool) if as_array else mask, **kwargs)  # type: ignore[arg-type]
    expected = reference_scene_spans(
        mask,
        kwargs["fps"],  # type: ignore[arg-type]
        kwargs["min_length_s"],  # type: ignore[arg-type]
        kwargs["max_length_s"],  # type: ignore[arg-type]
        kwargs["max_length_mode"],  # type: ignore[arg-type]
        kwargs["crop_s"],  # type: ignore[arg-type]
        kwargs["entire_scene_as_clip"],  # type: ignore[arg-type]
        kwargs["limit_clips"],  # type: ignore[arg-type]
        kwargs["scene_edges"],  # type: ignore[arg-type]
    )
    assert got == expected


@PROPS
@given(mask=masks(), kwargs=scene_settings)
def test_scene_spans_invariants(mask: list[bool], kwargs: dict[str, object]) -> None:
    spans = scene_spans(mask, **kwargs)  # type: ignore[arg-type]
    rules = SceneRules.from_seconds(**kwargs)  # type: ignore[arg-type]
    boundary = has_scene_boundary(np.array(mask, dtype=bool), rules.scene_edges)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    for start, end in spans:
        assert 0 <= start < end <= len(mask)
        if boundary:  # else the whole video is the one scene, a transition at frame 0 included
            assert not any(mask[start:end])
            assert end < len(mask) or rules.scene_edges == "runs"
        assert end - start >= rules.min_len
        if rules.max_len:
            assert end - start <= rules.max_len
    if rules.limit_clips:
        assert len(spans) <= rules.limit_clips


# --- fixed_stride_spans ---------------------------------------------------------------------------


def ten_second_clips(duration_s: float, limit_clips: int = 0) -> list[tuple[float, float]]:
    """Fixed-stride spans of 10 s every 10 s, at least 2 s long, at 30 fps."""
    return fixed_stride_spans(
        duration_s, 30.0, clip_len_s=10.0, clip_stride_s=10.0, min_clip_length_s=2.0, limit_clips=limit_clips
    )


def test_fixed_stride_examples() -> None:
    assert ten_second_clips(25.0) == [(0, 10), (10, 20), (20, 25)]
    assert ten_second_clips(21.5) == [(0, 10), (10, 20)]
    assert ten_second_clips(22.0) == [(0, 10), (10, 20), (20, 22)]
    assert ten_second_clips(25.0, limit_clips=1) == [(0, 10)]
    assert ten_second_clips(0.0) == []


def test_fixed_stride_truncates_duration_to_frames() -> None:
    # 10.05 s at 30 fps -> int(301.5) = 301 frames -> 10.0333 s.
    spans = fixed_stride_spans(10.05, 30.0, clip_len_s=4.0, clip_stride_s=5.0, min_clip_length_s=0.0)
    assert spans == [(0, 4), (5, 9), (10, 301 / 30)]


def test_fixed_stride_starts_are_added_up_as_curators() -> None:
    spans = fixed_stride_spans(100.0, 30.0, clip_len_s=0.1, clip_stride_s=0.1, min_clip_length_s=0.0)
    assert [t for t, _ in spans] == [0.0, *itertools.accumulate([0.1] * (len(spans) - 1))]  # added up, as Curator
    assert len(spans) == 1001  # the 1000th start, 99.9999999999986, is still below 100 s, as in Curator
    assert spans[8][0] == 0.7999999999999999  # not 8 * 0.1 == 0.8: the starts are added up


@pytest.mark.parametrize(
    ("fps", "length", "stride"), [(0.0, 1.0, 1.0), (30.0, 0.0, 1.0), (30.0, 1.0, 0.0), (30.0, 1.0, -1.0)]
)
def test_fixed_stride_rejects_bad_settings(fps: float, length: float, stride: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        fixed_stride_spans(10.0, fps, clip_len_s=length, clip_stride_s=stride, min_clip_length_s=0.0)


@PROPS
@given(
    duration=st.floats(0, 120),
    fps=st.sampled_from(list(RATES)),
    length=st.floats(0.1, 20),
    stride=st.floats(0.1, 20),
    minimum=st.floats(0, 10),
    limit=st.integers(0, 4),
)
def test_fixed_stride_matches_reference(
    duration: float, fps: float, length: float, stride: float, minimum: float, limit: int
) -> None:
    total = int(duration * fps) / fps
    expected = []
    starts = itertools.accumulate(itertools.repeat(stride), initial=0.0)  # added up, as Curator's stage does
    for t in itertools.takewhile(lambda t: t < total, starts):
        e = min(t + length, total)
        if e - t >= minimum:
            expected.append((t, e))
    if limit:
        expected = expected[:limit]
    got = fixed_stride_spans(
        duration, fps, clip_len_s=length, clip_stride_s=stride, min_clip_length_s=minimum, limit_clips=limit
    )
    assert got == expected


# --- clip identity --------------------------------------------------------------------------------


def test_clip_uuid_known_value_and_determinism() -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "/a/b.mp4_15_284")
    assert clip_uuid("/a/b.mp4", 15, 284) == expected
    assert clip_uuid("/a/b.mp4", 15, 284) == clip_uuid("/a/b.mp4", 15, 284)
    assert clip_uuid("/a/b.mp4", 15, 285) != expected
    assert clip_uuid("/a/c.mp4", 15, 284) != expected
    assert expected.version == 5


def test_seconds_to_frame() -> None:
    assert seconds_to_frame(10.0, 30.0) == 300
    assert seconds_to_frame(21.5, 30.0) == 645
    assert seconds_to_frame(1.0, NTSC) == 29
    assert seconds_to_frame(0.0, 30.0) == 0


# --- frame sampling -------------------------------------------------------------------------------


def test_sample_two_per_second_at_30() -> None:
    # t_last = 89/30 = 2.9667; k = 6 (t = 3.0 <= 2.9667 + 0.25) maps to frame 90, clamped to 89.
    assert sample_frame_indices(90, 30.0, 2.0) == [0, 15, 30, 45, 60, 75, 89]
    # 80 frames: t_last = 79/30 = 2.633; t = 3.0 > 2.633 + 0.25, so six samples.
    assert sample_frame_indices(80, 30.0, 2.0) == [0, 15, 30, 45, 60, 75]


def test_sample_ties_go_to_earlier_frame() -> None:
    # At 60 Hz from 30 fps, odd samples fall exactly between two frames. Samples run to
    # t_last + 0.5/r = 3/30 + 1/120, so k = 0..6 (k = 7 would be 7/60 > 13/120).
    assert sample_frame_indices(4, 30.0, 60.0) == [0, 0, 1, 1, 2, 2, 3]
    # 24 fps, 16 Hz: t = 1/16 -> 1.5 frames -> frame 1; t = 3/16 -> 4.5 -> frame 4.
    assert sample_frame_indices(7, 24.0, 16.0) == [0, 1, 3, 4, 6]


def test_sample_boundary_is_inclusive() -> None:
    # 24 fps, 12 Hz, 2 frames: t_last + 0.5/r = 1/24 + 1/24 = 1/12, exactly the k = 1 sample.
    assert sample_frame_indices(2, 24.0, 12.0) == [0, 1]


def test_sample_ntsc() -> None:
    # 30000/1001 fps at 1 Hz: k seconds is frame k * 29.97 -> 0, 29.97, 59.94, 89.91, 119.88.
    assert sample_frame_indices(120, NTSC, 1.0) == [0, 30, 60, 90, 119]
    # 29.97 fps, 2 Hz: k/2 s is frame k * 14.985 -> 0, 14.985, 29.97, 44.955.
    assert sample_frame_indices(45, 29.97, 2.0) == [0, 15, 30, 44]


def test_sample_edge_cases() -> None:
    assert sample_frame_indices(0, 30.0, 2.0) == []
    assert sample_frame_indices(1, 30.0, 2.0) == [0]
    with pytest.raises(ValueError, match="must be > 0"):
        sample_frame_indices(10, 0.0, 2.0)
    with pytest.raises(ValueError, match="must be > 0"):
        sample_frame_indices(10, 30.0, 0.0)


def test_middle_index() -> None:
    assert middle_index([]) is None
    assert middle_index([7]) == 7
    assert middle_index([0, 15, 30, 45, 60, 75, 89]) == 45
    assert middle_index([0, 15]) == 15


@PROPS
@given(
    num_frames=st.integers(0, 400),
    fps=st.sampled_from(list(RATES)),
    target=st.sampled_from([0.5, 1.0, 2.0, 4.0, 12.0, 15.0, 24.0, 30.0, 60.0]),
)
def test_sample_matches_brute_force(num_frames: int, fps: float, target: float) -> None:
    rate, r = RATES[fps], Fraction(target)
    got = sample_frame_indices(num_frames, fps, target)
    assert got == sorted(got)
    assert all(0 <= i < num_frames for i in got)
    if num_frames == 0:
        assert got == []
        return
    t_last = (num_frames - 1) / rate
    count = 0
    while count / r <= t_last + 1 / (2 * r):
        count += 1
    assert len(got) == count
    for k, idx in enumerate(got):
        t = k / r
        below = min(math.floor(t * rate), num_frames - 1)
        candidates = sorted({below, min(below + 1, num_frames - 1)})
        distances = [abs(j / rate - t) for j in candidates]
        assert idx == candidates[distances.index(min(distances))]  # nearest; the earlier on ties
