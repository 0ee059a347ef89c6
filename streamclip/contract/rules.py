"""Pure span, identity and frame-sampling rules (DESIGN.md section 2, "Semantic contract").

Everything here is a plain function of its arguments: no I/O, no decoding, no torch. The batch
path (:func:`scene_spans`) and the streaming span builder both go through :class:`SceneRules`,
so the two agree frame for frame.

Scenes follow NeMo Curator 1.4.0 (``_get_scenes`` in its ``transnetv2_extraction.py``) by default,
two of its choices included, tested on Curator's own answers (tests/test_curator_parity.py): once
a video has a transition, its last frame is in no scene; and a transition at frame 0 closes no
scene, so a video whose only transition starts at frame 0 is one whole scene, that transition
included. ``scene_edges="runs"`` gives the plain rule instead (see :func:`_scenes`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt

__all__ = [
    "SceneRules",
    "scene_spans",
    "fixed_stride_spans",
    "clip_uuid",
    "seconds_to_frame",
    "sample_frame_indices",
    "middle_index",
]

Span = tuple[int, int]
Drop = tuple[int, int, str, str]  # start, end, rule, why
MAX_LENGTH_MODES = ("stride", "truncate")
SCENE_EDGES = ("curator", "runs")
CROP_MARGIN = " of a clip"  # ends the `why` of a kept clip's crop margin (not a piece dropped whole)
# Bound on the denominator used to recover a frame rate's intended rational (30000/1001, 2997/125).
_RATE_DENOMINATOR = 1_000_000


def _require_positive(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` is a finite number above zero."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _require_non_negative(name: str, value: float) -> None:
    """Raise ValueError when ``value`` is negative."""
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _to_frames(seconds: float | None, fps: float) -> int:
    """Convert a length in seconds to frames by truncation; None means 0 (rule disabled)."""
    if seconds is None:
        return 0
    _require_non_negative("length in seconds", seconds)
    return int(seconds * fps)


@dataclass(frozen=True)
class SceneRules:
    """Frame-valued scene filtering settings; a value of 0 disables ``min_len``, ``max_len`` or ``crop``.

    ``limit_clips``, ``entire_scene_as_clip`` and ``scene_edges`` (how scenes are formed, see
    :func:`_scenes`) are carried for the span builders; :meth:`pieces` applies the per-scene steps
    (a) max length, (b) crop and (c) min length.
    """

    min_len: int = 0
    max_len: int = 0
    crop: int = 0
    mode: str = "stride"
    entire_scene_as_clip: bool = True
    limit_clips: int = 0
    scene_edges: str = "curator"

    def __post_init__(self) -> None:
        """Validate the settings."""
        if self.mode not in MAX_LENGTH_MODES:
            raise ValueError(f"max_length_mode must be one of {MAX_LENGTH_MODES}, got {self.mode!r}")
        if self.scene_edges not in SCENE_EDGES:
            raise ValueError(f"scene_edges must be one of {SCENE_EDGES}, got {self.scene_edges!r}")
        for name in ("min_len", "max_len", "crop", "limit_clips"):
            _require_non_negative(name, getattr(self, name))

    @classmethod
    def from_seconds(
        cls,
        fps: float,
        *,
        min_length_s: float | None = 2.0,
        max_length_s: float | None = 10.0,
        max_length_mode: str = "stride",
        crop_s: float | None = 0.5,
        entire_scene_as_clip: bool = True,
        limit_clips: int = 0,
        scene_edges: str = "curator",
    ) -> SceneRules:
        """Build the rules from second-valued settings, truncating each to whole frames at ``fps``."""
        _require_positive("fps", fps)
        return cls(
            min_len=_to_frames(min_length_s, fps),
            max_len=_to_frames(max_length_s, fps),
            crop=_to_frames(crop_s, fps),
            mode=max_length_mode,
            entire_scene_as_clip=entire_scene_as_clip,
            limit_clips=limit_clips,
            scene_edges=scene_edges,
        )

    def pieces(self, start: int, end: int) -> list[Span]:
        """Apply max length, crop and min length, in that order, to the scene ``[start, end)``."""
        return [span for _, span in self.cut(start, end).kept]

    def cut(self, start: int, end: int) -> SceneCut:
        """:meth:`pieces` with its reasons: each kept span with the piece it was cropped from, the
        stride split points, and every range dropped by (a) max length, (b) crop or (c) min length."""
        cut = SceneCut()
        for piece_start, piece_end in self._split(start, end, cut):
            cropped_start, cropped_end = piece_start + self.crop, piece_end - self.crop
            if cropped_end <= cropped_start:
                cut.drop(piece_start, piece_end, "crop", f"cropping {self.crop} frames at each end leaves nothing")
            elif cropped_end - cropped_start < self.min_len:
                length = cropped_end - cropped_start
                cut.drop(piece_start, piece_end, "min_length", f"{length} frames after crop < min {self.min_len}")
            else:
                cut.drop(piece_start, cropped_start, "crop", f"{self.crop} frames cropped at the start{CROP_MARGIN}")
                cut.drop(cropped_end, piece_end, "crop", f"{self.crop} frames cropped at the end{CROP_MARGIN}")
                cut.kept.append(((piece_start, piece_end), (cropped_start, cropped_end)))
        return cut

    def limit(self, spans: list[Span]) -> list[Span]:
        """Keep the first ``limit_clips`` spans (all of them when ``limit_clips`` is 0)."""
        return spans[: self.limit_clips] if self.limit_clips > 0 else spans

    def _split(self, start: int, end: int, cut: SceneCut) -> list[Span]:
        """Step (a): cut ``[start, end)`` to ``max_len`` by truncation or into contiguous strides."""
        if end <= start:
            return []
        if self.max_len <= 0 or end - start <= self.max_len:
            return [(start, end)]
        if self.mode == "truncate":
            cut.drop(start + self.max_len, end, "max_length_truncate", f"scene longer than max {self.max_len}")
            return [(start, start + self.max_len)]
        strides = [(s, min(s + self.max_len, end)) for s in range(start, end, self.max_len)]
        cut.splits += [s for s, _ in strides[1:]]
        last_start, last_end = strides[-1]
        if last_end - last_start < self.min_len:
            why = f"last stride piece: {last_end - last_start} frames < min {self.min_len}"
            cut.drop(last_start, last_end, "max_length_stride", why)
            return strides[:-1]
        return strides


@dataclass
class SceneCut:
    """One scene through :meth:`SceneRules.cut`."""

    kept: list[tuple[Span, Span]] = field(default_factory=list)  # (piece before its crop, span kept)
    splits: list[int] = field(default_factory=list)  # stride split points
    dropped: list[Drop] = field(default_factory=list)

    def drop(self, start: int, end: int, rule: str, why: str) -> None:
        if end > start:
            self.dropped.append((start, end, rule, why))


def non_transition_runs(mask: npt.NDArray[np.bool_], cuts: Sequence[int] = ()) -> list[Span]:
    """Maximal runs ``[start, end)`` of non-transition frames, each split at the ``cuts`` inside it."""
    edges = np.diff(np.concatenate(([True], mask, [True])).astype(np.int8))
    runs: list[Span] = []
    for start, end in zip(np.flatnonzero(edges == -1).tolist(), np.flatnonzero(edges == 1).tolist(), strict=True):
        for cut in sorted(c for c in cuts if start < c < end):
            runs.append((start, cut))
            start = cut
        runs.append((start, end))
    return runs


def has_scene_boundary(mask: npt.NDArray[np.bool_], scene_edges: str = "curator", cuts: Sequence[int] = ()) -> bool:
    """Whether the video is more than one whole scene: it has a forced cut, or a transition (for
    Curator, a transition after a non-transition frame: one that starts at frame 0 closes no scene)."""
    if len(cuts):
        return True
    if scene_edges == "runs":
        return bool(mask.any())
    return bool(np.any(mask[1:] & ~mask[:-1]))


def _scenes(
    mask: npt.NDArray[np.bool_], entire_scene_as_clip: bool, scene_edges: str = "curator", cuts: Sequence[int] = ()
) -> list[Span]:
    """The scenes ``[start, end)`` of a video's transition mask, in frame order.

    A video without a scene boundary (:func:`has_scene_boundary`) is one scene ``[0, N)`` when
    ``entire_scene_as_clip``, else none. Otherwise the scenes are the maximal runs of non-transition
    frames, split at ``cuts`` (a live source's spool limit, zero frames wide), and with Curator's
    edges the last one, when it reaches the end, ends one frame early: the video's last frame is in
    no scene, and a last scene of that one frame is left empty, ``(N-1, N-1)``. This is exactly
    Curator 1.4.0's ``_get_scenes(predictions, entire_scene_as_clip=...)``, whose loop is the
    reference TransNetV2's ``predictions_to_scenes`` (inclusive ends) read with exclusive ends: the
    dropped last frame looks like a bug but is matched for its clip ids. ``scene_edges="runs"``
    keeps the last frame, and counts a transition at frame 0 like any other.
    """
    n = len(mask)
    if not has_scene_boundary(mask, scene_edges, cuts):
        whole = entire_scene_as_clip and (n > 0 or scene_edges == "curator")  # Curator: (0, 0) when empty
        return [(0, n)] if whole else []
    scenes = non_transition_runs(mask, cuts)
    if scene_edges == "curator" and not mask[-1] and n not in cuts:
        scenes[-1] = (scenes[-1][0], n - 1)
    return scenes


def scene_spans(
    transitions: npt.NDArray[np.bool_] | Sequence[bool],
    fps: float,
    *,
    min_length_s: float | None = 2.0,
    max_length_s: float | None = 10.0,
    max_length_mode: str = "stride",
    crop_s: float | None = 0.5,
    entire_scene_as_clip: bool = True,
    limit_clips: int = 0,
    scene_edges: str = "curator",
) -> list[Span]:
    """Clip frame spans ``[start, end)`` from a per-frame transition mask, in frame order.

    Scenes are formed as NeMo Curator 1.4.0 forms them (:func:`_scenes`: the last frame of a video
    with a transition is in no scene; a transition at frame 0 closes no scene), or, with
    ``scene_edges="runs"``, as the maximal runs of non-transition frames; each is cut by
    :meth:`SceneRules.pieces`. Raises ValueError for an unknown ``max_length_mode`` or
    ``scene_edges``, ``fps <= 0`` or a negative limit.
    """
    rules = SceneRules.from_seconds(
        fps,
        min_length_s=min_length_s,
        max_length_s=max_length_s,
        max_length_mode=max_length_mode,
        crop_s=crop_s,
        entire_scene_as_clip=entire_scene_as_clip,
        limit_clips=limit_clips,
        scene_edges=scene_edges,
    )
    mask = np.asarray(transitions, dtype=bool)
    if mask.ndim != 1:
        raise ValueError(f"transitions must be one-dimensional, got shape {mask.shape}")
    scenes = _scenes(mask, entire_scene_as_clip, scene_edges)
    spans = [piece for s, e in scenes for piece in rules.pieces(s, e)]
    return rules.limit(spans)


def fixed_stride_spans(
    duration_s: float,
    fps: float,
    *,
    clip_len_s: float,
    clip_stride_s: float,
    min_clip_length_s: float,
    limit_clips: int = 0,
) -> list[tuple[float, float]]:
    """Clip spans in seconds every ``clip_stride_s`` over the frame-truncated duration.

    ``duration = int(duration_s * fps) / fps``; a clip starts at ``t = 0`` and then at the previous
    start plus ``clip_stride_s`` while ``t < duration`` (added up, as Curator's stage does: with a
    stride a binary float cannot hold, such as 0.7, the starts drift by a few ulps from
    ``k * clip_stride_s``, and the frames and ids follow Curator's), ends at
    ``min(t + clip_len_s, duration)`` and is kept when at least ``min_clip_length_s`` long.
    ``limit_clips > 0`` keeps only the first ones (Curator's stage has no such cap).
    """
    for name, value in (("fps", fps), ("clip_len_s", clip_len_s), ("clip_stride_s", clip_stride_s)):
        _require_positive(name, value)
    _require_non_negative("limit_clips", limit_clips)
    duration = int(duration_s * fps) / fps
    kept: list[tuple[float, float]] = []
    start = 0.0
    while start < duration:
        end = min(start + clip_len_s, duration)
        if end - start >= min_clip_length_s:
            kept.append((start, end))
        start += clip_stride_s
    return kept[:limit_clips] if limit_clips > 0 else kept


def clip_uuid(source: str, start_frame: int, end_frame: int) -> uuid.UUID:
    """Deterministic clip id: ``uuid5(NAMESPACE_URL, f"{source}_{start_frame}_{end_frame}")``."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{source}_{start_frame}_{end_frame}")


def seconds_to_frame(t_s: float, fps: float) -> int:
    """Frame index of time ``t_s`` by truncation: ``int(t_s * fps)``."""
    return int(t_s * fps)


def _rate(value: float) -> Fraction:
    """The rational a float frame rate stands for (29.97002997... -> 30000/1001)."""
    return Fraction(value).limit_denominator(_RATE_DENOMINATOR)


def sample_frame_indices(num_frames: int, fps: float, target_fps: float) -> list[int]:
    """Frame indices sampled at ``target_fps`` from a clip of ``num_frames`` frames at ``fps``.

    Sample times are ``k / target_fps`` for ``k = 0, 1, ...`` while at most
    ``t_last + 0.5 / target_fps`` (``t_last = (num_frames - 1) / fps``); each goes to the nearest
    frame, ties to the earlier one, clamped to the clip. Arithmetic is exact on the rationals the
    rates stand for, so ties and boundaries are decided exactly.
    """
    _require_positive("fps", fps)
    _require_positive("target_fps", target_fps)
    if num_frames <= 0:
        return []
    rate, target = _rate(fps), _rate(target_fps)
    count = math.floor((num_frames - 1) * target / rate + Fraction(1, 2)) + 1
    nearest = (math.ceil(k * rate / target - Fraction(1, 2)) for k in range(count))
    return [min(max(idx, 0), num_frames - 1) for idx in nearest]


def middle_index(indices: list[int]) -> int | None:
    """The ``middle`` policy's sample: ``indices[len(indices) // 2]``, or None when empty."""
    return indices[len(indices) // 2] if indices else None
