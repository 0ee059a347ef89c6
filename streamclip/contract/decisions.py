"""What a split decided and why: per video, the transition probabilities and every range's fate.

Written beside the Curator-compatible outputs (which stay as they are), one pair per video:

    OUT/decisions/<rel>.json        the record below (version 1)
    OUT/decisions/<rel>.probs.npy   float16 [frames_seen] transition probabilities (scene mode only)

The record holds the settings in frames, the scenes (as `rules._scenes` forms them, empty ones left
out), the transition runs (`cuts`), the kept clips (index, uuid, frames, seconds: exactly the spans the span
builder emitted), the stride split points, and every dropped range with the rule that dropped it
(`margin` true for the crop margins of a kept clip, false for a piece or scene dropped whole):

    max_length_truncate  the part of a scene after `max_len` (truncate mode)
    max_length_stride    the last stride piece of a scene, shorter than `min_len` (stride mode)
    crop                 the `crop` frames at both ends of a kept piece, or a piece crop empties
    min_length           a piece shorter than `min_len` after cropping
    limit_clips          a piece after the clip limit, and the frames never decoded because of it
    no_transition        a video without a transition (Curator: but at frame 0) when `entire_scene_as_clip` is false
    last_frame           the last frame of a video with a transition: in no scene (Curator's rule)
    video_failed         frames after the last decision of a video that failed while decoding
    <stage name>         a clip a curation stage dropped after the split (e.g. `motion`, NeMo
                         Curator's motion filter): the clip stays in `clips` (the split made it);
                         its range is also here with `stage` (the stage's name), `uuid`, `index`,
                         the stage's reason as `why`, and the clip's scalar stage fields (the
                         motion scores) as `fields`. Written in the video's own record, not in a
                         live session's parts.

Fixed-stride mode writes the same record without probabilities, scenes or cuts. Each file goes to
a temporary name and is renamed into place; the `.npy` is placed before the `.json` that names it.

A live session's decisions are written in parts as it goes (`live.decisions_part_s` of stream each,
closed where a scene or a stride piece starts): `OUT/decisions/<rel>.part-00001.json` (+ `.probs.npy`)
and so on, each a record of the frames `[first_frame, frames_seen)` with `status` "part"; the
session's own record, written at its end, holds the frames after the last part and lists the parts
in `parts`. Clip indexes and frame numbers count from the session's start in every part.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamclip.contract.rules import (
    CROP_MARGIN,
    SceneRules,
    clip_uuid,
    has_scene_boundary,
    non_transition_runs,
    seconds_to_frame,
)
from streamclip.contract.types import Span

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FrameSpan = tuple[int, int]


def part_name(rel: str, number: int) -> str:
    """The name of part `number` (from 1) of a live session's decisions: `<rel>.part-00001`."""
    return f"{rel}.part-{number:05d}"


def decisions_path(out: Path, rel: str) -> Path:
    return out / "decisions" / f"{rel}.json"


def probabilities_path(out: Path, rel: str) -> Path:
    return out / "decisions" / f"{rel}.probs.npy"


@dataclass
class Explained:
    """The fate of every frame range of one video's scenes."""

    kept: list[FrameSpan] = field(default_factory=list)
    pieces: list[FrameSpan] = field(default_factory=list)  # each kept span before its crop
    dropped: list[tuple[int, int, str, str]] = field(default_factory=list)  # start, end, rule, why
    splits: list[int] = field(default_factory=list)

    def drop(self, start: int, end: int, rule: str, why: str) -> None:
        if end > start:
            self.dropped.append((start, end, rule, why))


def explain_scene(rules: SceneRules, start: int, end: int, into: Explained) -> None:
    """`SceneRules.cut` of the scene `[start, end)`, added to `into`."""
    cut = rules.cut(start, end)
    into.splits += cut.splits
    into.dropped += cut.dropped
    for piece, span in cut.kept:
        into.pieces.append(piece)
        into.kept.append(span)


def transition_runs(mask: npt.NDArray[np.bool_]) -> list[FrameSpan]:
    """Maximal runs `[start, end)` of transition frames."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate(([False], mask, [False])).astype(np.int8))
    return [(int(s), int(e)) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)]


class SceneDecisions:
    """Fed by the span builder for one video: its probabilities and the spans it emitted.

    A live session's decisions are kept in parts: `split_at` hands over the frames before a scene
    (or a piece of one) starts as a closed part, to be written, and goes on from there, so what is
    held is bounded by a part, not by the session. A part is explained on its own as the whole
    would have been: it knows the clips emitted before it (the clip limit counts them), whether it
    begins with the rest of a scene whose first piece an earlier part kept (truncate mode), and
    whether it ends inside a scene (a stride split point).
    """

    def __init__(self, rules: SceneRules, threshold: float, *, first_frame: int = 0) -> None:
        self.rules = rules
        self.threshold = threshold
        self.first_frame = first_frame  # the frame its probabilities start at (0 but in a later part)
        self._chunks: list[npt.NDArray[np.float16]] = []
        self._frames = 0
        self.emitted: list[FrameSpan] = []
        self.forced_cuts: list[int] = []  # a live source's scenes closed at its spool limit
        self.clips_before = 0  # clips emitted in the parts before this one
        self.parts_before = 0  # parts closed before this one
        self.continues_truncated = False  # begins with the rest of a scene whose first piece was kept
        self.continues_scene = False  # begins where a stride piece of a scene an earlier part began starts
        self.boundary_before = False  # the parts before it hold a scene boundary (`has_scene_boundary`)
        self.closed = False  # a part closed before the session's end: its last frame is not the video's
        self.ends_in_scene = False  # a closed part that ends where a stride piece of an open scene starts

    def add_probabilities(self, probabilities: npt.NDArray[np.float32]) -> None:
        self._chunks.append(probabilities.astype(np.float16))
        self._frames += len(probabilities)

    def add_span(self, start: int, end: int) -> None:
        self.emitted.append((start, end))

    def add_forced_cut(self, frame: int) -> None:
        self.forced_cuts.append(frame)

    @property
    def probabilities(self) -> npt.NDArray[np.float16]:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float16)

    @property
    def end_frame(self) -> int:
        """The frame after the last one seen."""
        return self.first_frame + self._frames

    def split_at(self, frame: int, *, in_scene: bool, truncated: bool) -> SceneDecisions:
        """Hand over frames `[first_frame, frame)` as a closed part and go on from `frame`, where a
        scene starts (or, `in_scene`, a piece of an open scene; `truncated`: the rest of a scene
        whose first piece was kept). Nothing emitted from now on starts before `frame`, and the
        tracker can no longer change its mind about a frame before it (`part_boundary`).

        A closed part's last frame is not the session's: Curator's last-frame rule is left to the
        part that holds the session's end, and a stride split point at `frame` to the part that
        holds the piece starting there (it exists only if the scene goes on past `frame`)."""
        if not self.first_frame < frame <= self.end_frame:
            raise ValueError(f"a part ends after it starts ({self.first_frame}) and by the last frame seen")
        probabilities, at = self.probabilities, frame - self.first_frame
        part = SceneDecisions(self.rules, self.threshold, first_frame=self.first_frame)
        part._chunks, part._frames = [probabilities[:at]], at
        part.emitted = [span for span in self.emitted if span[0] < frame]
        part.forced_cuts = [cut for cut in self.forced_cuts if cut <= frame]  # one at its end is its boundary
        part.clips_before, part.parts_before = self.clips_before, self.parts_before
        part.continues_truncated, part.continues_scene = self.continues_truncated, self.continues_scene
        part.boundary_before, part.closed = self.boundary_before, True
        part.ends_in_scene = in_scene and not truncated
        mask = probabilities[:at].astype(np.float32) > self.threshold
        cuts = [cut - self.first_frame for cut in part.forced_cuts]
        self.boundary_before = self.boundary_before or has_scene_boundary(mask, self.rules.scene_edges, cuts)
        self._chunks, self._frames = [probabilities[at:].copy()], len(probabilities) - at
        self.emitted = [span for span in self.emitted if span[0] >= frame]
        self.forced_cuts = [cut for cut in self.forced_cuts if cut > frame]
        self.first_frame = frame
        self.clips_before += len(part.emitted)
        self.parts_before += 1
        self.continues_truncated = truncated
        self.continues_scene = in_scene and not truncated
        return part

    def explain(self, *, failed: bool, limit_reached: bool) -> tuple[Explained, list[FrameSpan], list[FrameSpan]]:
        """(explained ranges, scenes, cuts) over the frames seen, decided as the span builder did."""
        mask = self.probabilities.astype(np.float32) > self.threshold
        first, seen, into = self.first_frame, self.end_frame, Explained()
        scenes = self._scenes(mask, into, failed=failed, limit_reached=limit_reached)
        for number, (start, end) in enumerate(scenes):
            continued = number == 0 and start == first > 0  # the rest of a scene an earlier part began
            if continued and self.continues_truncated:
                into.drop(start, end, "max_length_truncate", f"scene longer than max {self.rules.max_len}")
            elif failed and end == seen and end not in self.forced_cuts and number == len(scenes) - 1:
                self._explain_unfinished(start, end, into)
            elif continued and self.continues_scene:
                _explain_continued(self.rules, start, end, into)
            else:
                explain_scene(self.rules, start, end, into)
        self._apply_limit(into, seen if limit_reached else None)
        return into, scenes, _shifted(transition_runs(mask), first)

    def _scenes(
        self, mask: npt.NDArray[np.bool_], into: Explained, *, failed: bool, limit_reached: bool
    ) -> list[FrameSpan]:
        """`rules._scenes` of the frames seen (empty ones left out), the frames in none of them
        dropped into `into`; a failed video's last scene is still open and runs to the frames seen.
        A part of a live session counts the scene boundaries of the parts before it, and only the
        part that holds the session's end (not a closed one) loses its last frame."""
        rules, first, seen = self.rules, self.first_frame, self.end_frame
        cuts = [cut - first for cut in self.forced_cuts]
        if not self.boundary_before and not has_scene_boundary(mask, rules.scene_edges, cuts):
            if not rules.entire_scene_as_clip:
                into.drop(first, seen, "no_transition", "no scene boundary and entire_scene_as_clip is false")
            elif failed and first == 0 and len(mask) and mask[0] and rules.scene_edges == "curator":
                into.drop(0, seen, "video_failed", "the video failed before it was known to be one scene")
            else:
                return [(first, seen)] if seen > first else []
            return []
        scenes = _shifted(non_transition_runs(mask, cuts), first)
        if failed or self.closed or rules.scene_edges != "curator" or not len(mask) or mask[-1]:
            return scenes
        if seen in self.forced_cuts:
            return scenes
        if limit_reached:
            into.drop(seen - 1, seen, "limit_clips", f"after the first {rules.limit_clips} clips")
        else:
            into.drop(seen - 1, seen, "last_frame", "a video with a transition: its last frame is in no scene")
        start, _ = scenes.pop()
        return [*scenes, (start, seen - 1)] if start < seen - 1 else scenes

    def _explain_unfinished(self, start: int, end: int, into: Explained) -> None:
        """The scene open when decoding failed: only its complete `max_len` pieces were decided
        (with Curator's edges a piece is decided once the frame after it is seen)."""
        length = self.rules.max_len
        lag = 1 if self.rules.scene_edges == "curator" else 0
        whole = (end - start - lag) // length if length > 0 else 0
        if self.rules.mode == "truncate":
            whole = min(whole, 1)
        decided_end = start + whole * length
        explain_scene(self.rules, start, decided_end, into)
        into.drop(decided_end, end, "video_failed", "the video failed before this scene ended")

    def _apply_limit(self, into: Explained, stopped_at: int | None) -> None:
        if self.rules.limit_clips <= 0:
            return
        limit = max(self.rules.limit_clips - self.clips_before, 0)
        over = set(into.pieces[limit:])
        # A piece past the limit is dropped whole, its crop margins with it.
        into.dropped = [d for d in into.dropped if not (d[2] == "crop" and _inside(d, over))]
        for start, end in into.pieces[limit:]:
            into.drop(start, end, "limit_clips", f"after the first {self.rules.limit_clips} clips")
        into.kept, into.pieces = into.kept[:limit], into.pieces[:limit]
        if stopped_at is not None:
            into.splits = [s for s in into.splits if s < stopped_at]


def _shifted(spans: list[FrameSpan], by: int) -> list[FrameSpan]:
    return [(start + by, end + by) for start, end in spans]


def _explain_continued(rules: SceneRules, start: int, end: int, into: Explained) -> None:
    """`explain_scene` of the rest `[start, end)` of a scene an earlier part began, `start` being
    where one of its stride pieces starts: cut as the whole scene was (the piece before `start`
    makes the grid, and makes the last piece a stride piece), told from `start` on."""
    cut = Explained()
    explain_scene(rules, start - rules.max_len, end, cut)
    into.splits += [s for s in cut.splits if s >= start]
    into.dropped += [d for d in cut.dropped if d[0] >= start]
    for piece, span in zip(cut.pieces, cut.kept, strict=True):
        if piece[0] >= start:
            into.pieces.append(piece)
            into.kept.append(span)


def _inside(drop: tuple[int, int, str, str], pieces: set[FrameSpan]) -> bool:
    return any(start <= drop[0] and drop[1] <= end for start, end in pieces)


def scene_record(
    decisions: SceneDecisions, source: str, fps: float, num_frames: int, *, failed: bool
) -> dict[str, Any]:
    """The decisions record of a scene-mode video (without the common fields)."""
    rules = decisions.rules
    limit_reached = 0 < rules.limit_clips <= decisions.clips_before + len(decisions.emitted)
    explained, scenes, cuts = decisions.explain(failed=failed, limit_reached=limit_reached)
    seen = decisions.end_frame
    if explained.kept != decisions.emitted:
        # The explanation mirrors the span builder; if they ever disagree the emitted spans win.
        log.warning(
            "%s: decisions explained %s but the span builder emitted %s", source, explained.kept, decisions.emitted
        )
    if limit_reached and seen < num_frames:
        explained.drop(seen, num_frames, "limit_clips", "not decoded: the clip limit was reached")
    elif failed and seen < num_frames:
        explained.drop(seen, num_frames, "video_failed", "not decoded: the video failed here")
    part = {"first_frame": decisions.first_frame} if decisions.first_frame else {}
    return {
        "mode": "scenes",
        "threshold": decisions.threshold,
        "frames_seen": seen,
        **part,
        "rules": _scene_rules(rules, fps),
        "probabilities": True,
        "scenes": [_frames(s, e, fps) for s, e in scenes],
        "cuts": [_frames(s, e, fps) for s, e in cuts],
        "splits": [{"frame": f, "t_s": f / fps, "rule": "max_length_stride"} for f in explained.splits],
        "clips": _clips(decisions.emitted, source, fps, first_index=decisions.clips_before),
        "dropped": _dropped(explained.dropped, fps),
    }


def _scene_rules(rules: SceneRules, fps: float) -> dict[str, Any]:
    return {
        "min_len": rules.min_len,
        "max_len": rules.max_len,
        "crop": rules.crop,
        "max_length_mode": rules.mode,
        "entire_scene_as_clip": rules.entire_scene_as_clip,
        "limit_clips": rules.limit_clips,
        "scene_edges": rules.scene_edges,
    }


def stride_record(
    source: str,
    duration_s: float,
    fps: float,
    *,
    clip_len_s: float,
    clip_stride_s: float,
    min_clip_length_s: float,
    limit_clips: int,
) -> dict[str, Any]:
    """The decisions record of a fixed-stride video: the `fixed_stride_spans` loop, with reasons."""
    duration = int(duration_s * fps) / fps
    starts = (k * clip_stride_s for k in range(math.ceil(duration / clip_stride_s) + 1))
    candidates = [(t, min(t + clip_len_s, duration)) for t in starts if t < duration]
    kept: list[tuple[float, float]] = []
    dropped: list[tuple[int, int, str, str]] = []
    for t, e in candidates:
        frames = seconds_to_frame(t, fps), seconds_to_frame(e, fps)
        if e - t < min_clip_length_s:
            dropped.append((*frames, "min_length", f"{e - t:.2f} s < min {min_clip_length_s:g} s"))
        elif 0 < limit_clips <= len(kept):
            dropped.append((*frames, "limit_clips", f"after the first {limit_clips} clips"))
        else:
            kept.append((t, e))
    clips = [(seconds_to_frame(t, fps), seconds_to_frame(e, fps)) for t, e in kept]
    return {
        "mode": "fixed_stride",
        "rules": {"clip_len_s": clip_len_s, "clip_stride_s": clip_stride_s, "min_clip_length_s": min_clip_length_s,
                  "limit_clips": limit_clips},
        "probabilities": False,
        "scenes": [],
        "cuts": [],
        "splits": [],
        "clips": _clips(clips, source, fps, seconds=kept),
        "dropped": _dropped(dropped, fps),
    }  # fmt: skip


def _frames(start: int, end: int, fps: float) -> dict[str, Any]:
    return {"start_frame": start, "end_frame": end, "start_s": start / fps, "end_s": end / fps}


def _clips(
    spans: list[FrameSpan],
    source: str,
    fps: float,
    seconds: list[tuple[float, float]] | None = None,
    *,
    first_index: int = 0,
) -> list[dict[str, Any]]:
    out = []
    for index, (start, end) in enumerate(spans, first_index):
        record = {"index": index, "uuid": str(clip_uuid(source, start, end)), **_frames(start, end, fps)}
        if seconds is not None:
            record["start_s"], record["end_s"] = seconds[index - first_index]
        out.append(record)
    return out


def _dropped(ranges: list[tuple[int, int, str, str]], fps: float) -> list[dict[str, Any]]:
    ordered = sorted(ranges, key=lambda r: (r[0], r[1]))
    return [{**_frames(s, e, fps), "rule": rule, "why": why, "margin": why.endswith(CROP_MARGIN)}
            for s, e, rule, why in ordered]  # fmt: skip


def stage_drop(index: int, span: Span, stage: str, reason: str, fields: dict[str, object]) -> dict[str, Any]:
    """The dropped-range entry of clip `index`, which curation stage `stage` dropped for `reason`."""
    scalars = {key: value for key, value in fields.items() if isinstance(value, str | int | float | bool)}
    return {"start_frame": span.start_frame, "end_frame": span.end_frame, "start_s": span.start_s,
            "end_s": span.end_s, "rule": stage, "why": reason, "margin": False, "stage": stage,
            "index": index, "fields": scalars}  # fmt: skip


def with_stage_drops(record: dict[str, Any], drops: list[dict[str, Any]]) -> None:
    """Add the ranges curation stages dropped to a record's `dropped`, in frame order, each with the
    uuid its clip has in the record's `clips`."""
    if not drops:
        return
    uuids = {clip["index"]: clip["uuid"] for clip in record.get("clips", [])}
    named = [{**drop, "uuid": uuids[drop["index"]]} if drop["index"] in uuids else drop for drop in drops]
    record["dropped"] = sorted([*record["dropped"], *named], key=lambda d: (d["start_frame"], d["end_frame"]))


def npy_bytes(values: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()
