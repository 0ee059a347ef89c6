"""streamclip's scenes and spans are NeMo Curator 1.4.0's, on Curator's own answers.

The fixture (`../shared/eval/curator-1.4.0-rules/`, beside the repository, read where it lies) holds
306 per-frame transition masks and what the real `nemo-curator==1.4.0` returned for each: its
`_get_scenes(predictions, entire_scene_as_clip=True)` and `_get_filtered_scenes(scenes,
min_length=int(2.0*fps), max_length=int(10.0*fps), max_length_mode="stride",
crop_length=int(0.5*fps))`, the defaults of `TransNetV2ClipExtractionStage`. The batch rules, the
streaming tracker in every chunking and the span builder actor (probabilities in, spans out, the
decisions record beside) must all give exactly those.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from streamclip.actors.messages import ProbChunk, SpanItem, VideoEnd, VideoJob
from streamclip.actors.span_builder import SceneSpanTracker, SpanBuilder
from streamclip.config import SpansConfig
from streamclip.contract.decisions import SceneDecisions
from streamclip.contract.rules import SceneRules, _scenes, scene_spans
from streamclip.contract.types import VideoMetadata
from streamclip.runtime.channel import Channel

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "curator-1.4.0-rules"
CASES = 306
THRESHOLD = 0.4
# Every chunk size up to a detector window's 50 kept frames would take too long on all cases; these
# cover single frames, every small size, sizes that straddle the 240-600-frame pieces, and one chunk.
SMALL_SIZES = range(1, 11)
LARGE_SIZES = (25, 50, 239, 241, 300, 301, 10_000)

Span = tuple[int, int]


@dataclass(frozen=True)
class Case:
    name: str
    mask: npt.NDArray[np.bool_]
    fps: float
    scenes: list[Span]
    spans: list[Span]


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    if not FIXTURE.is_dir():
        pytest.skip(f"Curator's answers are not here ({FIXTURE}): they live in the shared folder beside the repository")
    names = (FIXTURE / "names.txt").read_text().split()
    rates = np.load(FIXTURE / "fps.npy")
    answers = json.loads((FIXTURE / "cur.json").read_text())
    with np.load(FIXTURE / "masks.npz") as masks:
        return [
            Case(
                name,
                masks[name].astype(bool),
                float(fps),
                _spans(answers[name]["scenes"]),
                _spans(answers[name]["spans"]),
            )
            for name, fps in zip(names, rates, strict=True)
        ]


def _spans(pairs: list[list[int]]) -> list[Span]:
    return [(int(start), int(end)) for start, end in pairs]


def _streamed(case: Case, size: int) -> list[Span]:
    tracker = SceneSpanTracker(SceneRules.from_seconds(case.fps))
    spans: list[Span] = []
    for start in range(0, len(case.mask), size):
        spans += tracker.push(case.mask[start : start + size])
    return spans + tracker.finish()


def test_the_fixture_has_every_kind_of_edge(cases: list[Case]) -> None:
    assert len(cases) == CASES
    by_name = {case.name: case for case in cases}
    assert by_name["leading_only"].mask[0]
    assert by_name["all_ones"].mask.all()
    assert by_name["ends_in_transition"].mask[-1]
    assert any(case.scenes and case.scenes[-1][0] == case.scenes[-1][1] for case in cases)  # a 1-frame last scene


def test_scenes_and_spans_are_curators_on_every_case(cases: list[Case]) -> None:
    differ = [
        case.name
        for case in cases
        if _scenes(case.mask, True) != case.scenes or scene_spans(case.mask, case.fps) != case.spans
    ]
    assert differ == [], f"{len(cases) - len(differ)}/{len(cases)} match Curator 1.4.0"


def test_plain_runs_are_not_curators(cases: list[Case]) -> None:
    """The option that keeps a video's last frame does differ (its clip ids are not Curator's)."""
    differ = [case for case in cases if scene_spans(case.mask, case.fps, scene_edges="runs") != case.spans]
    assert len(differ) >= 80


@pytest.mark.parametrize("size", [*SMALL_SIZES, *LARGE_SIZES])
def test_the_streaming_tracker_gives_curators_spans_in_any_chunking(cases: list[Case], size: int) -> None:
    differ = [case.name for case in cases if _streamed(case, size) != case.spans]
    assert differ == [], f"chunks of {size}: {len(cases) - len(differ)}/{len(cases)} match Curator 1.4.0"


def _probabilities(mask: npt.NDArray[np.bool_], seed: int) -> npt.NDArray[np.float32]:
    """Probabilities on the right side of the threshold, away from it (the record keeps float16)."""
    rng = np.random.default_rng(seed)
    return np.where(mask, rng.uniform(0.45, 1.0, len(mask)), rng.uniform(0.0, 0.35, len(mask))).astype(np.float32)


def _job(job_id: int, case: Case) -> VideoJob:
    path = f"/videos/{case.name}.mp4"
    meta = VideoMetadata(
        path=path, size=1, width=48, height=27, fps=case.fps, num_frames=len(case.mask),
        duration_s=len(case.mask) / case.fps, video_codec="h264", pixel_format="yuv420p",
    )  # fmt: skip
    return VideoJob(id=job_id, source=path, rel=f"{case.name}.mp4", meta=meta)


async def _through_the_actor(cases: list[Case], size: int) -> dict[int, list[Span]]:
    """Every case as one video, interleaved chunk by chunk, through the SpanBuilder actor."""
    inbox: Channel[ProbChunk | VideoEnd] = Channel(4)
    outbox: Channel[SpanItem | VideoEnd] = Channel(4)
    jobs = [_job(number, case) for number, case in enumerate(cases)]

    async def feed() -> None:
        probabilities = [_probabilities(case.mask, number) for number, case in enumerate(cases)]
        for start in range(0, max(len(case.mask) for case in cases), size):
            for job, values in zip(jobs, probabilities, strict=True):
                if start < len(values):
                    await inbox.send(ProbChunk(job, start, values[start : start + size]))
                    if start + size >= len(values):
                        await inbox.send(VideoEnd(job))
        inbox.close()

    spans: dict[int, list[Span]] = {job.id: [] for job in jobs}

    async def collect() -> None:
        async for item in outbox:
            if isinstance(item, SpanItem):
                spans[item.job.id].append((item.span.start_frame, item.span.end_frame))

    builder = SpanBuilder(inbox, outbox, SpansConfig(), THRESHOLD)
    async with asyncio.TaskGroup() as group:
        group.create_task(feed())
        group.create_task(builder.run())
        group.create_task(collect())
    for job, case in zip(jobs, cases, strict=True):
        assert isinstance(job.decisions, SceneDecisions)
        explained, scenes, _ = job.decisions.explain(failed=False, limit_reached=False)
        assert explained.kept == spans[job.id], case.name
        assert scenes == [(s, e) for s, e in case.scenes if e > s], case.name
        covered = sorted(
            f for s, e in [*explained.kept, *((s, e) for s, e, _, _ in explained.dropped)] for f in range(s, e)
        )
        transitions = set(np.flatnonzero(case.mask).tolist())
        assert len(covered) == len(set(covered)), case.name  # no frame twice
        assert set(covered) | transitions == set(range(len(case.mask))), case.name  # none forgotten
    return spans


@pytest.mark.parametrize("size", [13, 50])  # the tracker above takes every small size; this the actor's path
async def test_the_span_builder_actor_gives_curators_spans(cases: list[Case], size: int) -> None:
    spans = await _through_the_actor(cases, size)
    differ = [case.name for number, case in enumerate(cases) if spans[number] != case.spans]
    assert differ == [], f"chunks of {size}: {len(cases) - len(differ)}/{len(cases)} match Curator 1.4.0"
