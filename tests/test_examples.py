"""The examples run as documented."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import media
import pytest

import streamclip
from streamclip.stages.loading import build_stages

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


def test_the_brightness_stage_example_drops_the_dark_clip(tmp_path: Path) -> None:
    dark = media.make_cut_video(tmp_path / "dark.mp4", scenes=[("color=c=0x080808", 2.0)]).path
    bright = media.make_cut_video(tmp_path / "bright.mp4", scenes=[("testsrc2", 2.0)]).path
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "drop_dark_clips.py"), str(tmp_path / "out"), str(dark), str(bright)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "done dark.mp4: 0 kept, 1 dropped" in lines
    assert "done bright.mp4: 1 kept, 0 dropped" in lines
    assert len(list((tmp_path / "out" / "clips").glob("*.mp4"))) == 1
    metas = [json.loads(p.read_text()) for p in (tmp_path / "out" / "metas" / "v0").glob("*.json")]
    assert sorted(m["source_video"] for m in metas) == sorted([str(bright), str(dark)])
    [dropped] = [m for m in metas if m["source_video"] == str(dark)]
    assert dropped["mean_brightness"] < 40 <= next(m for m in metas if m is not dropped)["mean_brightness"]
    assert dropped["drop_reason"].startswith("too dark")


def test_the_dark_clips_profile_names_the_example_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    config = streamclip.load_config(EXAMPLES / "dark-clips.toml")
    [stage] = build_stages(config)
    assert (stage.name, stage.concurrency, stage.min_brightness) == ("brightness", 2, 40.0)  # type: ignore[attr-defined]


def test_bundled_sample_video_has_the_documented_cuts() -> None:
    sample = EXAMPLES / "sample.mp4"
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=nb_frames,avg_frame_rate",
         "-of", "csv=p=0", str(sample)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert out == "25/1,400"
