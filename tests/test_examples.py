"""The examples run as documented."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import media
import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def short_video_for_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("examples") / "six_seconds.mp4"
    return media.make_cut_video(path, scenes=[("testsrc2", 3.0), ("smptebars", 3.0)]).path


def test_split_folder_example_prints_each_clip_as_it_arrives(short_video_for_examples: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(short_video_for_examples, folder / "a.mp4")
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "split_folder.py"), str(folder), str(tmp_path / "out"), "fixed-stride"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    clip_lines = [line for line in lines if " clip a.mp4 #" in line]
    assert len(clip_lines) == 1  # 6 s at 10 s stride, min 2 s: one clip [0, 6)
    assert lines[-1].endswith("done a.mp4: 1 clips")
    assert len(list((tmp_path / "out" / "clips").glob("*.mp4"))) == 1


def test_bundled_sample_video_has_the_documented_cuts() -> None:
    sample = EXAMPLES / "sample.mp4"
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=nb_frames,avg_frame_rate",
         "-of", "csv=p=0", str(sample)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert out == "25/1,400"
