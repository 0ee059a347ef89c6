"""OUT/decisions/: the probabilities and the fate of every frame range, per video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import ReviewSplit
from hypothesis import given
from hypothesis import strategies as st

import streamclip
from streamclip.contract.decisions import Explained, explain_scene, stride_record
from streamclip.contract.rules import SceneRules, fixed_stride_spans


def _record(out: Path, rel: str) -> dict:
    return json.loads((out / "decisions" / f"{rel}.json").read_text())


def _near(frame: int, expected: int) -> bool:
    return abs(frame - expected) <= 2  # TransNetV2 marks the frame at or next to a hard cut


def test_scenes_clips_and_dropped_ranges_of_a_video_with_known_cuts(review_split: ReviewSplit) -> None:
    record = _record(review_split.output, "scenes.mp4")
    video, total = review_split.video, review_split.video.num_frames  # cuts at 75, 113, 188 of 463, 25 fps
    assert (record["status"], record["mode"], record["num_frames"], record["frames_seen"]) == (
        "done", "scenes", total, total)  # fmt: skip
    assert record["rules"] == {"min_len": 50, "max_len": 250, "crop": 12, "max_length_mode": "stride",
                               "entire_scene_as_clip": True, "limit_clips": 0,
                               "scene_edges": "curator"}  # fmt: skip
    scenes = [(s["start_frame"], s["end_frame"]) for s in record["scenes"]]
    assert len(scenes) == 4
    for (_, end), cut in zip(scenes, video.cuts, strict=False):
        assert _near(end, cut)
    assert scenes[-1][1] == total - 1  # the last frame is in no scene (Curator)
    assert [_near(c["end_frame"], cut) for c, cut in zip(record["cuts"], video.cuts, strict=True)] == [True] * 3

    # Every clip on disk is in the record, with its index and uuid, and nothing else is.
    clips = record["clips"]
    on_disk = {p.stem for p in (review_split.output / "clips").glob("*.mp4")}
    assert {c["uuid"] for c in clips} == on_disk
    assert [c["index"] for c in clips] == [0, 1, 2]
    first, second, long = ((c["start_frame"], c["end_frame"]) for c in clips)
    assert first == (scenes[0][0] + 12, scenes[0][1] - 12)
    assert second == (scenes[2][0] + 12, scenes[2][1] - 12)
    assert long == (scenes[3][0] + 12, scenes[3][0] + 250 - 12)  # the first stride piece, cropped

    by_rule: dict[str, list[tuple[int, int]]] = {}
    for dropped in record["dropped"]:
        by_rule.setdefault(dropped["rule"], []).append((dropped["start_frame"], dropped["end_frame"]))
        assert dropped["why"]
        assert dropped["margin"] == (dropped["rule"] == "crop")  # here every crop is a clip's margin
    assert by_rule["min_length"] == [scenes[1]]  # the 1.5 s red scene: 12 frames left after the crop
    assert by_rule["max_length_stride"] == [(scenes[3][0] + 250, total - 1)]  # the 1 s tail of the 11 s scene
    assert by_rule["last_frame"] == [(total - 1, total)]
    assert [s["frame"] for s in record["splits"]] == [scenes[3][0] + 250]
    assert len(by_rule["crop"]) == 6  # both ends of the three clips
    assert set(by_rule) == {"min_length", "max_length_stride", "crop", "last_frame"}

    probs = np.load(review_split.output / "decisions" / "scenes.mp4.probs.npy")
    assert probs.dtype == np.float16
    assert probs.shape == (total,)
    assert [int(f) for f in np.flatnonzero(probs > 0.4)] == [c["start_frame"] for c in record["cuts"]]


def test_a_failed_video_has_a_decisions_record_with_its_reason(review_split: ReviewSplit) -> None:
    record = _record(review_split.output, "broken.mp4")
    assert record["status"] == "failed"
    assert "not a video file" in record["error"]
    assert (record["clips"], record["probabilities"]) == ([], False)
    assert not (review_split.output / "decisions" / "broken.mp4.probs.npy").exists()


async def test_fixed_stride_records_its_clips_and_the_short_tail(tmp_path: Path) -> None:
    import media

    video = media.make_cut_video(tmp_path / "v.mp4", scenes=[("testsrc2", 5.0)])
    config = streamclip.load_config("fixed-stride", ["spans.clip_len_s=2", "spans.clip_stride_s=2",
                                                     "spans.min_clip_length_s=1.5"])  # fmt: skip
    await streamclip.split([video.path], tmp_path / "out", config)
    record = _record(tmp_path / "out", "v.mp4")
    assert record["mode"] == "fixed_stride"
    assert [(c["start_frame"], c["end_frame"]) for c in record["clips"]] == [(0, 50), (50, 100)]
    assert [(d["start_frame"], d["end_frame"], d["rule"]) for d in record["dropped"]] == [(100, 125, "min_length")]
    assert not (tmp_path / "out" / "decisions" / "v.mp4.probs.npy").exists()


def test_fixed_stride_explanation_keeps_what_the_rule_keeps() -> None:
    record = stride_record("/v.mp4", 23.0, 25.0, clip_len_s=10, clip_stride_s=5, min_clip_length_s=4, limit_clips=2)
    spans = fixed_stride_spans(23.0, 25.0, clip_len_s=10, clip_stride_s=5, min_clip_length_s=4, limit_clips=2)
    assert [(c["start_s"], c["end_s"]) for c in record["clips"]] == spans
    assert [d["rule"] for d in record["dropped"]] == ["limit_clips", "limit_clips", "min_length"]


@given(
    start=st.integers(0, 50),
    length=st.integers(0, 700),
    min_len=st.integers(0, 80),
    max_len=st.integers(0, 300),
    crop=st.integers(0, 30),
    mode=st.sampled_from(["stride", "truncate"]),
)
def test_explained_scene_keeps_exactly_the_rule_pieces_and_accounts_for_every_frame(
    start: int, length: int, min_len: int, max_len: int, crop: int, mode: str
) -> None:
    rules = SceneRules(min_len=min_len, max_len=max_len, crop=crop, mode=mode)
    explained = Explained()
    explain_scene(rules, start, start + length, explained)
    assert explained.kept == rules.pieces(start, start + length)
    ranges = sorted([*explained.kept, *((s, e) for s, e, _, _ in explained.dropped)])
    covered = [f for s, e in ranges for f in range(s, e)]
    assert covered == list(range(start, start + length))  # no frame twice, none forgotten


def _decide(probs: list[float], rules: SceneRules, *, failed: bool = False, num_frames: int = 0) -> dict:
    """Run the streaming tracker as the span builder does, then make the record."""
    from streamclip.actors.span_builder import SceneSpanTracker
    from streamclip.contract.decisions import SceneDecisions, scene_record

    tracker, decisions = SceneSpanTracker(rules), SceneDecisions(rules, 0.5)
    values = np.asarray(probs, np.float32)
    decisions.add_probabilities(values)
    emitted = tracker.push(values > 0.5) + ([] if failed else tracker.finish())
    for start, end in emitted:
        decisions.add_span(start, end)
    return scene_record(decisions, "/v.mp4", 10.0, num_frames or len(probs), failed=failed)


def _ranges(record: dict) -> list[tuple[int, int, str]]:
    return [(d["start_frame"], d["end_frame"], d["rule"]) for d in record["dropped"]]


def test_a_video_without_transition_is_dropped_when_it_may_not_be_one_clip() -> None:
    record = _decide([0.0] * 40, SceneRules(min_len=5, entire_scene_as_clip=False))
    assert (record["scenes"], record["clips"]) == ([], [])
    assert _ranges(record) == [(0, 40, "no_transition")]
    whole = _decide([0.0] * 40, SceneRules(min_len=5))
    assert [(c["start_frame"], c["end_frame"]) for c in whole["clips"]] == [(0, 40)]


def test_clips_after_the_limit_and_the_frames_never_decoded_are_limit_clips() -> None:
    probs = [0.0] * 20 + [0.9] + [0.0] * 20 + [0.9] + [0.0] * 20
    record = _decide(probs, SceneRules(min_len=5, limit_clips=1), num_frames=100)
    assert [(c["start_frame"], c["end_frame"]) for c in record["clips"]] == [(0, 20)]
    # the last frame seen (61) is in no scene; the decoding stopped after it
    limited = [(21, 41, "limit_clips"), (42, 61, "limit_clips"), (61, 62, "limit_clips"), (62, 100, "limit_clips")]
    assert _ranges(record) == limited
    cropped = _decide(probs, SceneRules(min_len=5, crop=2, limit_clips=1), num_frames=62)
    assert [(c["start_frame"], c["end_frame"]) for c in cropped["clips"]] == [(2, 18)]
    assert _ranges(cropped) == [(0, 2, "crop"), (18, 20, "crop"), (21, 41, "limit_clips"), (42, 61, "limit_clips"),
                                (61, 62, "limit_clips")]  # fmt: skip


def test_a_video_that_failed_mid_scene_keeps_its_finished_pieces() -> None:
    probs = [0.0] * 20 + [0.9] + [0.0] * 25  # decoding failed at frame 46 of 80, inside a scene
    record = _decide(probs, SceneRules(min_len=5, max_len=10), failed=True, num_frames=80)
    assert [(c["start_frame"], c["end_frame"]) for c in record["clips"]] == [(0, 10), (10, 20), (21, 31), (31, 41)]
    assert _ranges(record) == [(41, 46, "video_failed"), (46, 80, "video_failed")]


def _assert_every_frame_accounted_for(explained: Explained, mask: list[bool]) -> None:
    """Kept and dropped ranges never overlap, and leave out only transition frames outside a scene."""
    ranges = sorted([*explained.kept, *((s, e) for s, e, _, _ in explained.dropped)])
    covered = [f for s, e in ranges for f in range(s, e)]
    assert covered == sorted(set(covered))  # no frame twice
    assert set(covered) | {f for f, is_cut in enumerate(mask) if is_cut} == set(range(len(mask)))  # none forgotten


@given(
    mask=st.lists(st.booleans() | st.just(False), max_size=300),
    min_len=st.integers(0, 40),
    max_len=st.integers(0, 90),
    crop=st.integers(0, 10),
    mode=st.sampled_from(["stride", "truncate"]),
    whole=st.booleans(),
    limit=st.integers(0, 4),
    edges=st.sampled_from(["curator", "runs"]),
)
def test_a_video_explained_keeps_the_rule_spans_and_accounts_for_every_scene_frame(
    mask: list[bool], min_len: int, max_len: int, crop: int, mode: str, whole: bool, limit: int, edges: str
) -> None:
    from streamclip.contract.decisions import SceneDecisions
    from streamclip.contract.rules import _scenes, scene_spans

    rules = SceneRules(min_len=min_len, max_len=max_len, crop=crop, mode=mode, entire_scene_as_clip=whole,
                       limit_clips=limit, scene_edges=edges)  # fmt: skip
    decisions = SceneDecisions(rules, 0.5)
    decisions.add_probabilities(np.asarray(mask, np.float32))
    explained, scenes, cuts = decisions.explain(failed=False, limit_reached=False)
    expected = scene_spans(mask, 1.0, min_length_s=min_len, max_length_s=max_len, max_length_mode=mode,
                           crop_s=crop, entire_scene_as_clip=whole, limit_clips=limit,
                           scene_edges=edges)  # fmt: skip
    assert explained.kept == expected
    assert scenes == [(s, e) for s, e in _scenes(np.asarray(mask, bool), whole, edges) if e > s]
    _assert_every_frame_accounted_for(explained, mask)
    assert sum(e - s for s, e in cuts) == sum(mask)


@given(
    mask=st.lists(st.booleans() | st.just(False) | st.just(False), max_size=200),
    chunk=st.integers(1, 40),
    cut_every=st.integers(0, 3),
    failed=st.booleans(),
    min_len=st.integers(0, 20),
    max_len=st.integers(0, 40),
    crop=st.integers(0, 5),
    mode=st.sampled_from(["stride", "truncate"]),
    whole=st.booleans(),
    edges=st.sampled_from(["curator", "runs"]),
)
def test_the_record_explains_what_the_streaming_tracker_emitted(
    mask: list[bool], chunk: int, cut_every: int, failed: bool, min_len: int, max_len: int, crop: int, mode: str,
    whole: bool, edges: str,
) -> None:  # fmt: skip
    """As the span builder runs it: chunks, a live source's cuts at the spool limit after some of
    them, and an end (or a failure, where nothing closes the open scene)."""
    from streamclip.actors.span_builder import SceneSpanTracker
    from streamclip.contract.decisions import SceneDecisions

    rules = SceneRules(min_len=min_len, max_len=max_len, crop=crop, mode=mode, entire_scene_as_clip=whole,
                       scene_edges=edges)  # fmt: skip
    tracker, decisions = SceneSpanTracker(rules), SceneDecisions(rules, 0.5)
    emitted: list[tuple[int, int]] = []
    for number, start in enumerate(range(0, len(mask), chunk)):
        values = np.asarray(mask[start : start + chunk], np.float32)
        decisions.add_probabilities(values)
        emitted += tracker.push(values > 0.5)
        if cut_every and number % (cut_every + 1) == cut_every:
            emitted += tracker.cut_here()
            decisions.add_forced_cut(tracker.position)
    if not failed:
        emitted += tracker.finish()
    explained, _, _ = decisions.explain(failed=failed, limit_reached=False)
    assert explained.kept == emitted
    _assert_every_frame_accounted_for(explained, mask)


def _labels(explained: Explained, frames: int) -> list[str]:
    """What happened to each frame: kept, a drop rule, or "" (a transition)."""
    labels = [""] * frames
    for start, end in explained.kept:
        labels[start:end] = ["kept"] * (end - start)
    for start, end, rule, _ in explained.dropped:
        labels[start:end] = [rule] * (end - start)
    return labels


@given(
    mask=st.lists(st.booleans() | st.just(False) | st.just(False), max_size=400),
    chunk=st.integers(1, 60),
    part_frames=st.integers(1, 120),
    min_len=st.integers(0, 30),
    max_len=st.integers(0, 60),
    crop=st.integers(0, 8),
    mode=st.sampled_from(["stride", "truncate"]),
    whole=st.booleans(),
    edges=st.sampled_from(["curator", "runs"]),
    leading=st.integers(0, 3),
    cut_every=st.integers(0, 3),
)
def test_a_session_decided_in_parts_explains_every_frame_as_the_whole_would(
    mask: list[bool], chunk: int, part_frames: int, min_len: int, max_len: int, crop: int, mode: str, whole: bool,
    edges: str, leading: int, cut_every: int,
) -> None:  # fmt: skip
    """The span builder cuts a live session's decisions into parts where the tracker allows it; the
    parts together say of every frame what one record of the whole session would, keep the same
    clips (indexes counted from the session's start), cuts, splits and probabilities. With both scene
    edges, transitions leading the session (Curator: held until the next one or the end), a live
    source's cuts at the spool limit, and the tracker's one-frame lag (Curator's last frame)."""
    from streamclip.actors.span_builder import SceneSpanTracker
    from streamclip.contract.decisions import SceneDecisions, scene_record

    rules = SceneRules(min_len=min_len, max_len=max_len, crop=crop, mode=mode, entire_scene_as_clip=whole,
                       scene_edges=edges)  # fmt: skip
    mask = [True] * leading + mask
    values = np.asarray(mask, np.float32)
    tracker, current, parts = SceneSpanTracker(rules), SceneDecisions(rules, 0.5), []
    everything = SceneDecisions(rules, 0.5)
    everything.add_probabilities(values)
    for number, first in enumerate(range(0, len(values), chunk)):
        piece = values[first : first + chunk]
        current.add_probabilities(piece)
        spans = tracker.push(piece > 0.5)
        if cut_every and number % (cut_every + 1) == cut_every:
            spans += tracker.cut_here()
            current.add_forced_cut(tracker.position)
            everything.add_forced_cut(tracker.position)
        for span in spans:
            current.add_span(*span)
            everything.add_span(*span)
        boundary = tracker.part_boundary()
        if tracker.position - current.first_frame >= part_frames and boundary and boundary[0] > current.first_frame:
            parts.append(current.split_at(boundary[0], in_scene=boundary[1], truncated=boundary[2]))
            assert current.end_frame - current.first_frame <= tracker.position - boundary[0]
    for span in tracker.finish():
        current.add_span(*span)
        everything.add_span(*span)
    parts.append(current)

    reference, _, cuts = everything.explain(failed=False, limit_reached=False)
    labels, all_cuts, splits, clips = [], [], [], []
    for number, part in enumerate(parts):
        assert part.first_frame == (parts[number - 1].end_frame if number else 0)
        explained, _, part_cuts = part.explain(failed=False, limit_reached=False)
        assert explained.kept == part.emitted
        labels += _labels(explained, part.end_frame)[part.first_frame :]
        all_cuts += part_cuts
        splits += explained.splits
        record = scene_record(part, "/live", 10.0, part.end_frame, failed=False)
        clips += [(c["index"], c["start_frame"], c["end_frame"]) for c in record["clips"]]
    assert parts[-1].end_frame == len(mask)
    assert labels == _labels(reference, len(mask))
    assert all_cuts == cuts
    assert splits == reference.splits
    assert clips == [(n, s, e) for n, (s, e) in enumerate(everything.emitted)]
    assert np.array_equal(np.concatenate([p.probabilities for p in parts]), everything.probabilities)
