"""The test suite's own media helpers: what they measure is what the tests assert against."""

from __future__ import annotations

from pathlib import Path

import media
import pytest


@pytest.mark.parametrize("container", ["mp4", "ts"])
def test_decodable_frames_counts_each_frame_once_in_any_container(container: str, tmp_path: Path) -> None:
    """ffprobe lists an MPEG-TS stream twice (under its program and on its own): one count, not two."""
    video = media.make_cut_video(tmp_path / f"a.{container}", scenes=[("testsrc2", 1.0)], fps=10)
    assert media.decodable_frames(video.path) == video.num_frames == 10
    data = video.path.read_bytes()
    cut = tmp_path / f"cut.{container}"
    cut.write_bytes(data[: len(data) // 2])
    assert 0 <= media.decodable_frames(cut) < video.num_frames
