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

Fixed-stride mode writes the same record without probabilities, scenes or cuts. Each file goes to
a temporary name and is renamed into place; the `.npy` is placed before the `.json` that names it.
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

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FrameSpan = tuple[int, int]


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
    """Fed by the span builder for one video: its probabilities and the spans it emitted."""

    def __init__(self, rules: SceneRules, threshold: float) -> None:
        self.rules = rules
        self.threshold = threshold
        self._chunks: list[npt.NDArray[np.float16]] = []
        self.emitted: list[FrameSpan] = []
        self.forced_cuts: list[int] = []  # a live source's scenes closed at its spool limit

    def add_probabilities(self, probabilities: npt.NDArray[np.float32]) -> None:
        self._chunks.append(probabilities.astype(np.float16))

    def add_span(self, start: int, end: int) -> None:
        self.emitted.append((start, end))

    def add_forced_cut(self, frame: int) -> None:
        self.forced_cuts.append(frame)

    @property
    def probabilities(self) -> npt.NDArray[np.float16]:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float16)

    def explain(self, *, failed: bool, limit_reached: bool) -> tuple[Explained, list[FrameSpan], list[FrameSpan]]:
        """(explained ranges, scenes, cuts) over the frames seen, decided as the span builder did."""
        mask = self.probabilities.astype(np.float32) > self.threshold
        into = Explained()
        scenes = self._scenes(mask, into, failed=failed, limit_reached=limit_reached)
        for number, (start, end) in enumerate(scenes):
            if failed and end == len(mask) and end not in self.forced_cuts and number == len(scenes) - 1:
                self._explain_unfinished(start, end, into)
            else:
                explain_scene(self.rules, start, end, into)
        self._apply_limit(into, len(mask) if limit_reached else None)
        return into, scenes, transition_runs(mask)

    def _scenes(
        self, mask: npt.NDArray[np.bool_], into: Explained, *, failed: bool, limit_reached: bool
    ) -> list[FrameSpan]:
        """`rules._scenes` of the frames seen (empty ones left out), the frames in none of them
        dropped into `into`; a failed video's last scene is still open and runs to the frames seen."""
        rules, seen = self.rules, len(mask)
        if not has_scene_boundary(mask, rules.scene_edges, self.forced_cuts):
            if not rules.entire_scene_as_clip:
                into.drop(0, seen, "no_transition", "no scene boundary and entire_scene_as_clip is false")
            elif failed and seen and mask[0] and rules.scene_edges == "curator":
                into.drop(0, seen, "video_failed", "the video failed before it was known to be one scene")
            else:
                return [(0, seen)] if seen else []
            return []
        scenes = non_transition_runs(mask, self.forced_cuts)
        if failed or rules.scene_edges != "curator" or mask[-1] or seen in self.forced_cuts:
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
        limit = self.rules.limit_clips
        if limit <= 0:
            return
        over = set(into.pieces[limit:])
        # A piece past the limit is dropped whole, its crop margins with it.
        into.dropped = [d for d in into.dropped if not (d[2] == "crop" and _inside(d, over))]
        for start, end in into.pieces[limit:]:
            into.drop(start, end, "limit_clips", f"after the first {limit} clips")
        into.kept, into.pieces = into.kept[:limit], into.pieces[:limit]
        if stopped_at is not None:
            into.splits = [s for s in into.splits if s < stopped_at]


def _inside(drop: tuple[int, int, str, str], pieces: set[FrameSpan]) -> bool:
    return any(start <= drop[0] and drop[1] <= end for start, end in pieces)


def scene_record(
    decisions: SceneDecisions, source: str, fps: float, num_frames: int, *, failed: bool
) -> dict[str, Any]:
    """The decisions record of a scene-mode video (without the common fields)."""
    rules = decisions.rules
    limit_reached = 0 < rules.limit_clips <= len(decisions.emitted)
    explained, scenes, cuts = decisions.explain(failed=failed, limit_reached=limit_reached)
    seen = len(decisions.probabilities)
    if explained.kept != decisions.emitted:
        # The explanation mirrors the span builder; if they ever disagree the emitted spans win.
        log.warning(
            "%s: decisions explained %s but the span builder emitted %s", source, explained.kept, decisions.emitted
        )
    if limit_reached and seen < num_frames:
        explained.drop(seen, num_frames, "limit_clips", "not decoded: the clip limit was reached")
    elif failed and seen < num_frames:
        explained.drop(seen, num_frames, "video_failed", "not decoded: the video failed here")
    return {
        "mode": "scenes",
        "threshold": decisions.threshold,
        "frames_seen": seen,
        "rules": _scene_rules(rules, fps),
        "probabilities": True,
        "scenes": [_frames(s, e, fps) for s, e in scenes],
        "cuts": [_frames(s, e, fps) for s, e in cuts],
        "splits": [{"frame": f, "t_s": f / fps, "rule": "max_length_stride"} for f in explained.splits],
        "clips": _clips(decisions.emitted, source, fps),
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
    spans: list[FrameSpan], source: str, fps: float, seconds: list[tuple[float, float]] | None = None
) -> list[dict[str, Any]]:
    out = []
    for index, (start, end) in enumerate(spans):
        record = {"index": index, "uuid": str(clip_uuid(source, start, end)), **_frames(start, end, fps)}
        if seconds is not None:
            record["start_s"], record["end_s"] = seconds[index]
        out.append(record)
    return out


def _dropped(ranges: list[tuple[int, int, str, str]], fps: float) -> list[dict[str, Any]]:
    ordered = sorted(ranges, key=lambda r: (r[0], r[1]))
    return [{**_frames(s, e, fps), "rule": rule, "why": why, "margin": why.endswith(CROP_MARGIN)}
            for s, e, rule, why in ordered]  # fmt: skip


def npy_bytes(values: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()
