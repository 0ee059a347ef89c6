"""`streamclip eval`: the configured detector scored on videos annotated with their transitions."""

from __future__ import annotations

import re
from pathlib import Path

import media
import msgspec
import pytest

from streamclip.cli import main
from streamclip.evaluation.truth import GroundTruth, Transition, truth_path


def write_truth(video: Path, num_frames: int, cuts: list[int]) -> Path:
    transitions = [Transition(kind="cut", last_before=c - 1, first_after=c) for c in cuts]
    truth = GroundTruth(video=video.name, frames=num_frames, fps="25/1", width=160, height=90, transitions=transitions)
    path = truth_path(video)
    path.write_bytes(msgspec.json.encode(truth))
    return path


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> media.CutVideo:
    """Three scenes, 150 frames: enough for two cuts, cheap for the detector."""
    scenes = [("testsrc2", 2.0), ("mandelbrot", 2.0), ("smptebars", 2.0)]
    return media.make_cut_video(tmp_path_factory.mktemp("eval") / "short.mp4", scenes=scenes)


def row(output: str, detector_or_kind: str) -> list[str]:
    line = next(line for line in output.splitlines() if re.search(rf"\| {re.escape(detector_or_kind)} \|", line))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.usefixtures("prepared_models")
def test_eval_scores_each_video_and_the_set(
    short_video: media.CutVideo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    right, shifted = tmp_path / "right.mp4", tmp_path / "shifted.mp4"
    for link in (right, shifted):
        link.symlink_to(short_video.path)
    write_truth(right, short_video.num_frames, short_video.cuts)
    write_truth(shifted, short_video.num_frames, [short_video.cuts[0] + 10, *short_video.cuts[1:]])  # one cut misplaced

    assert main(["eval", str(right), str(shifted)]) == 0
    out = capsys.readouterr().out
    cuts = len(short_video.cuts)
    assert f"right.mp4: {cuts} transitions, {cuts} found; F1 1.000 within ±2 frames" in out
    missed = 2 * (cuts - 1) / (2 * cuts)  # one miss and one false positive
    assert f"shifted.mp4: {cuts} transitions, {cuts} found; F1 {missed:.3f}" in out
    overall = row(out, f"all ({2 * cuts})")
    assert overall[2:5] == [f"{(2 * cuts - 1) / (2 * cuts):.3f}"] * 3  # P, R, F1 exact: one miss, one false positive
    assert float(overall[-1]) > 0  # CPU seconds per minute of video


def test_eval_without_ground_truth_is_a_usage_error(
    short_video: media.CutVideo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(short_video.path)]) == 2
    assert "no ground truth" in capsys.readouterr().err
    bad = tmp_path / "bad.truth.json"
    bad.write_text('{"video": "x.mp4", "frames": 10, "fps": "25/1", "width": 1, "height": 1, "transitions": '
                   '[{"kind": "flash", "last_before": 1, "first_after": 2}]}')  # fmt: skip
    assert main(["eval", str(short_video.path), "--truth", str(bad)]) == 2
    assert "kind" in capsys.readouterr().err


def test_a_truth_of_another_length_fails_that_video(
    short_video: media.CutVideo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "short.mp4"
    video.symlink_to(short_video.path)
    write_truth(video, short_video.num_frames - 5, [])
    assert main(["eval", str(video)]) == 1
    assert f"decoded {short_video.num_frames} frames, its ground truth says {short_video.num_frames - 5}" in (
        capsys.readouterr().err
    )
