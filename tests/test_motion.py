"""The motion stage (streamclip.stages.motion): NeMo Curator's motion score and filter on real clips.

One generated 512x384 video, cut at fixed stride (no detector) into 2 s clips: a still scene
(smptebars), a moving one (testsrc2 scrolling), still, moving. The scores are checked against `curator_scores`
below, a plain reimplementation of Curator's formula straight from PyAV's raw motion vectors (a
per-block painting loop and an explicit bilinear sample), sharing no code with the module.
"""

from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path

import av
import media
import numpy as np
import pytest

import streamclip
from streamclip import ClipReady, StageInput, VideoDone
from streamclip.config import PipelineConfig, load_config
from streamclip.review.site import build_report
from streamclip.stages.motion import MotionStage

STRIDE = ["spans.mode='fixed_stride'", "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0"]
MOVING_SCENE = "testsrc2,scroll=h=0.01:v=0.007"  # the whole picture moves, so every patch does
SCENES = [("smptebars", 2.0), (MOVING_SCENE, 2.0), ("smptebars", 2.0), (MOVING_SCENE, 2.0)]
STILL, MOVING = {0, 2}, {1, 3}
GLOBAL_MEAN_THRESHOLD, PER_PATCH_THRESHOLD = 0.00098, 0.000001


def config(*overrides: str) -> PipelineConfig:
    return load_config("default", [*STRIDE, "motion.enabled=true", *overrides])


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("motion")
    return media.make_cut_video(folder / "still_and_moving.mp4", scenes=SCENES, size="512x384").path


class Run:
    def __init__(self, events: list[streamclip.Event]) -> None:
        self.clips = sorted((e.clip for e in events if isinstance(e, ClipReady)), key=lambda clip: clip.index)
        [self.done] = [e for e in events if isinstance(e, VideoDone)]


async def split(video: Path, out: Path, cfg: PipelineConfig) -> Run:
    async with streamclip.open_pipeline(cfg, out) as pipe:
        await pipe.submit(video)
        pipe.close_input()
        return Run([event async for event in pipe])


def meta(out: Path, clip: streamclip.Clip) -> dict[str, object]:
    return json.loads((out / "metas" / "v0" / f"{clip.uuid}.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def filtered(video: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    out = tmp_path_factory.mktemp("filtered")
    return asyncio.run(split(video, out, config())), out


@pytest.fixture(scope="module")
def scored(video: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    out = tmp_path_factory.mktemp("scored")
    return asyncio.run(split(video, out, config("motion.score_only=true"))), out


# ---------------------------------------------------------------------------------------------
# An independent computation of Curator's formula (motion_vector_backend.py), for the checks


def curator_scores(clip_file: Path) -> tuple[float, float]:
    """Curator's (global mean, per-patch min 256) of an encoded clip, from PyAV's raw vectors."""
    with av.open(str(clip_file)) as container:
        stream = container.streams.video[0]
        stream.codec_context.flags2 |= av.codec.context.Flags2.export_mvs
        step = max(1, round(float(stream.average_rate or 30) / 2))
        seconds = int(container.duration / 1_000_000) or 30
        wanted = max(10, round(2 * seconds * 0.5))
        width = height = 0
        maps = []
        for i, frame in enumerate(container.decode(stream)):
            if i % step:
                continue
            width, height = width or frame.width, height or frame.height
            vectors = [sd for sd in frame.side_data if sd.type.name == "MOTION_VECTORS"]
            if vectors:
                maps.append(paint(vectors[0].to_ndarray(), width, height))
            if len(maps) >= wanted:
                break
    mean_map = np.mean(maps, axis=0)
    return float(mean_map.mean()), min(bilinear_samples(mean_map))


def paint(records: np.ndarray, width: int, height: int) -> np.ndarray:  # type: ignore[type-arg]
    """One frame's |flow| / (width + height): blocks painted kind by kind, later ones on top."""
    magnitude = np.zeros((height, width))
    for kind in [(8, 8), (16, 16), (16, 8), (8, 16)]:
        for v in records:
            if (v["w"], v["h"]) != kind:
                continue
            x = np.clip(np.arange(v["dst_x"] - v["w"] // 2, v["dst_x"] + v["w"] // 2), 0, width - 1)
            y = np.clip(np.arange(v["dst_y"] - v["h"] // 2, v["dst_y"] + v["h"] // 2), 0, height - 1)
            flow = np.array([v["motion_x"], v["motion_y"]]) / v["motion_scale"]
            magnitude[np.ix_(y, x)] = np.sqrt((flow**2).sum()) / (width + height)
    return magnitude


def bilinear_samples(image: np.ndarray) -> list[float]:  # type: ignore[type-arg]
    """cv2.resize(image, None, fx=1/256, fy=1/256) as a list: each output samples (k+0.5)*256-0.5."""

    def taps(size: int) -> list[tuple[int, int, float]]:
        out = []
        for k in range(round(size / 256)):
            at = (k + 0.5) * 256 - 0.5
            low = int(at)
            out.append((size - 1, size - 1, 0.0) if low >= size - 1 else (low, low + 1, at - low))
        return out

    samples = []
    for y0, y1, fy in taps(image.shape[0]):
        for x0, x1, fx in taps(image.shape[1]):
            top = (1 - fx) * image[y0, x0] + fx * image[y0, x1]
            bottom = (1 - fx) * image[y1, x0] + fx * image[y1, x1]
            samples.append(float((1 - fy) * top + fy * bottom))
    return samples


# ---------------------------------------------------------------------------------------------
# The stage in a pipeline


def test_still_clips_are_filtered_and_moving_ones_kept(filtered: tuple[Run, Path]) -> None:
    run, _out = filtered
    assert [clip.index for clip in run.clips] == [0, 1, 2, 3]
    assert {clip.index for clip in run.clips if clip.kept} == MOVING
    for clip in run.clips:
        global_mean = clip.fields["motion_score_global_mean"]
        per_patch = clip.fields["motion_score_per_patch_min_256"]
        if clip.index in STILL:
            assert global_mean < GLOBAL_MEAN_THRESHOLD
            assert clip.dropped_by == "motion"
            assert clip.drop_reason is not None
            assert clip.drop_reason.startswith("small motion: global mean")
            assert f"{global_mean:.6g} < 0.00098" in clip.drop_reason
        else:
            assert global_mean > GLOBAL_MEAN_THRESHOLD
            assert per_patch > PER_PATCH_THRESHOLD
            assert clip.drop_reason is None


def test_files_meta_and_counters_of_a_filtered_run(filtered: tuple[Run, Path]) -> None:
    run, out = filtered
    assert {p.stem for p in (out / "clips").glob("*.mp4")} == {str(run.clips[i].uuid) for i in MOVING}
    for clip in run.clips:
        written = meta(out, clip)
        assert written["motion_score_global_mean"] == clip.fields["motion_score_global_mean"]
        assert written["motion_score_per_patch_min_256"] == clip.fields["motion_score_per_patch_min_256"]
        assert written.get("drop_reason") == clip.drop_reason
    stats = run.done.stats
    assert (stats.num_filtered_by_motion, stats.num_passed, stats.num_transcoded) == (2, 2, 4)
    [record_file] = (out / "processed_videos").glob("*.json")
    saved = json.loads(record_file.read_text())["clip_stats"]
    assert (saved["num_filtered_by_motion"], saved["num_passed"]) == (2, 2)


def test_scores_match_an_independent_computation_of_curators_formula(scored: tuple[Run, Path]) -> None:
    run, out = scored
    for clip in run.clips:
        global_mean, per_patch = curator_scores(out / "clips" / f"{clip.uuid}.mp4")
        assert clip.fields["motion_score_global_mean"] == pytest.approx(global_mean, rel=1e-9, abs=1e-12)
        assert clip.fields["motion_score_per_patch_min_256"] == pytest.approx(per_patch, rel=1e-9, abs=1e-12)
    assert {clip.index for clip in run.clips if clip.fields["motion_score_global_mean"] > 0} == MOVING


def test_score_only_keeps_every_clip_with_its_scores(scored: tuple[Run, Path]) -> None:
    run, out = scored
    assert all(clip.kept and clip.drop_reason is None for clip in run.clips)
    assert all(meta(out, clip)["motion_score_global_mean"] >= 0 for clip in run.clips)  # type: ignore[operator]
    assert (run.done.stats.num_filtered_by_motion, run.done.stats.num_passed) == (0, 4)
    assert len(list((out / "clips").glob("*.mp4"))) == 4


async def test_motion_off_by_default_leaves_the_meta_as_it_was(video: Path, tmp_path: Path) -> None:
    run = await split(video, tmp_path, load_config("default", [*STRIDE, "spans.limit_clips=1"]))
    [clip] = run.clips
    assert clip.kept
    assert clip.fields == {}
    assert "motion_score_global_mean" not in meta(tmp_path, clip)


def test_decisions_show_each_motion_drop_as_a_dropped_range_with_its_rule_and_scores(
    filtered: tuple[Run, Path],
) -> None:
    run, out = filtered
    [decisions_file] = (out / "decisions").glob("*.json")
    decisions = json.loads(decisions_file.read_text())
    assert [clip["uuid"] for clip in decisions["clips"]] == [str(clip.uuid) for clip in run.clips]  # the split's
    by_motion = [d for d in decisions["dropped"] if d.get("stage") == "motion"]
    assert [d["index"] for d in by_motion] == sorted(STILL)
    for drop in by_motion:
        clip = run.clips[drop["index"]]
        assert (drop["rule"], drop["why"], drop["uuid"]) == ("motion", clip.drop_reason, str(clip.uuid))
        assert (drop["start_frame"], drop["end_frame"]) == (clip.span.start_frame, clip.span.end_frame)
        assert drop["fields"] == clip.fields  # both scores


async def test_the_review_page_shows_motion_drops_with_reason_and_scores(filtered: tuple[Run, Path]) -> None:
    run, out = filtered
    result = await build_report(out)
    [page_file] = (result.root / "videos").glob("*.html")
    page = page_file.read_text()
    for index in STILL:
        clip = run.clips[index]
        assert clip.drop_reason is not None
        reason = html.escape(clip.drop_reason, quote=False)
        assert f"dropped by motion: {reason}" in page  # on the clip's card
        assert page.count(reason) >= 3  # the card, the chart band's title, the dropped-ranges table
    assert page.count('class="card dropped"') == len(STILL)
    assert 'class="band drop-motion"' in page


# ---------------------------------------------------------------------------------------------
# Curator's traps: clips under 256 px and clips without motion vectors


async def test_a_clip_under_256_px_is_filtered_with_curators_minus_one(tmp_path: Path) -> None:
    narrow = media.make_cut_video(tmp_path / "narrow.mp4", scenes=[("testsrc2", 2.0)], size="320x200").path
    run = await split(narrow, tmp_path / "out", config())
    [clip] = run.clips
    assert (clip.fields["motion_score_global_mean"], clip.fields["motion_score_per_patch_min_256"]) == (-1.0, -1.0)
    assert clip.drop_reason == "unscorable motion: frame 320x200 has a side under 256 px"
    assert run.done.stats.num_filtered_by_motion == 1


async def test_a_clip_without_motion_vectors_is_filtered_unless_score_only(
    filtered: tuple[Run, Path], tmp_path: Path
) -> None:
    intra = tmp_path / "intra.mp4"  # every frame a keyframe: H.264 with no motion vector at all
    media.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x256:r=25", "-t", "2", "-c:v", "libx264", "-g", "1", intra)
    item = StageInput(clip=filtered[0].clips[1], path=intra, fields={})
    output = await MotionStage({"enabled": True}).process(item)
    assert output.fields == {"motion_score_global_mean": -1.0, "motion_score_per_patch_min_256": -1.0}
    assert output.drop is not None
    assert output.drop.startswith("unscorable motion: no motion vectors")
    kept = await MotionStage({"score_only": True}).process(item)
    assert (kept.drop, kept.fields) == (None, output.fields)


async def test_a_clip_that_cannot_be_decoded_fails_the_stage(filtered: tuple[Run, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(av.error.InvalidDataError):  # the runner records it as the clip's error
        await MotionStage().process(StageInput(clip=filtered[0].clips[1], path=broken, fields={}))
