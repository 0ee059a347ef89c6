"""Fixed-stride spans against NeMo Curator 1.4.0's own FixedStrideExtractorStage.

`tests/data/curator-1.4.0/fixed_stride.json` holds what Curator's stage returned on a grid of
durations, frame rates and settings (its README says how it was made). streamclip must give the
same spans in seconds (`duration_span` of a clip's meta), the same frames and so the same ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streamclip.contract.rules import clip_uuid, fixed_stride_spans, seconds_to_frame

FIXTURE = Path(__file__).parent / "data" / "curator-1.4.0" / "fixed_stride.json"
DATA = json.loads(FIXTURE.read_text(encoding="utf-8"))

# One known difference: Curator's FixedStrideExtractorStage does not cap the clips with
# `limit_clips` (it only skips a video that already has that many clips); streamclip keeps the first
# `limit_clips`. Starts are added up as Curator's are, so strides a binary float cannot hold
# (0.7, 2.3) drift exactly as Curator's do.


def case_id(case: dict[str, Any]) -> str:
    settings = "len{clip_len_s}-stride{clip_stride_s}-min{min_clip_length_s}-lim{limit_clips}".format(**case)
    return "d{duration_s}-fps{fps:.3f}-".format(**case) + settings


def streamclip_spans(case: dict[str, Any]) -> list[list[float]]:
    spans = fixed_stride_spans(
        case["duration_s"],
        case["fps"],
        clip_len_s=case["clip_len_s"],
        clip_stride_s=case["clip_stride_s"],
        min_clip_length_s=case["min_clip_length_s"],
        limit_clips=case["limit_clips"],
    )
    return [[start, end] for start, end in spans]


def params() -> list[Any]:
    return [pytest.param(case, id=case_id(case)) for case in DATA["cases"]]


def test_fixture_made_by_curator_1_4_0() -> None:
    assert DATA["versions"]["nemo-curator"] == "1.4.0"
    assert len(DATA["cases"]) >= 200
    assert sum(len(case["spans"]) for case in DATA["cases"]) > 1000


@pytest.mark.parametrize("case", [p for p in params() if p.values[0]["limit_clips"] == 0])
def test_fixed_stride_spans_frames_and_ids_as_curator(case: dict[str, Any]) -> None:
    fps = case["fps"]
    spans = streamclip_spans(case)
    frames = [[seconds_to_frame(start, fps), seconds_to_frame(end, fps)] for start, end in spans]
    ids = [clip_uuid(DATA["source"], a, b) for a, b in frames]
    assert frames == case["frames"]
    assert ids == [clip_uuid(DATA["source"], a, b) for a, b in case["frames"]]
    assert spans == case["spans"]  # the seconds written in duration_span, to the last bit


@pytest.mark.parametrize("case", [p for p in params() if p.values[0]["limit_clips"] > 0])
def test_limit_clips_keeps_the_first_of_curators_clips(case: dict[str, Any]) -> None:
    """Curator's fixed-stride stage ignores `limit_clips` here; streamclip keeps the first ones."""
    assert streamclip_spans(case) == case["spans"][: case["limit_clips"]]
