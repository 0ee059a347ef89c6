"""Every source keeps its own record, inside OUT: same-named sources, escaping `rel`s, and an
output folder inside the input folder."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import media
import pytest

import streamclip
from streamclip.config import load_config
from streamclip.contract.identity import check_rel, unique_rels
from streamclip.contract.types import VideoDone
from streamclip.inputs import expand_inputs

STRIDE = ["spans.mode='fixed_stride'", "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0", "frames.enabled=false"]


def records(out: Path) -> dict[str, str]:
    """processed_videos/<rel>.json -> the source it describes."""
    folder = out / "processed_videos"
    return {str(p.relative_to(folder)): json.loads(p.read_text())["video"] for p in folder.rglob("*.json")}


def test_two_sources_named_alike_keep_both_records(cut_video: media.CutVideo, tmp_path: Path) -> None:
    """`split a/x.mp4 b/x.mp4` wrote one `x.mp4.json`: the other video's record was lost."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(cut_video.path, tmp_path / folder / "x.mp4")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "streamclip", "split", "a/x.mp4", "b/x.mp4", "-o", str(out),
         *(arg for s in STRIDE for arg in ("--set", s))],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert records(out) == {
        "a/x.mp4.json": str(tmp_path / "a" / "x.mp4"),
        "b/x.mp4.json": str(tmp_path / "b" / "x.mp4"),
    }


async def test_the_api_keeps_both_records_when_given_the_same_rel(cut_video: media.CutVideo, tmp_path: Path) -> None:
    one, two = tmp_path / "one.mp4", tmp_path / "two.mp4"
    for copy in (one, two):
        shutil.copyfile(cut_video.path, copy)
    out = tmp_path / "out"
    async with streamclip.open_pipeline(load_config("default", STRIDE), out) as pipe:
        await pipe.submit(one, rel="same.mp4")
        await pipe.submit(two, rel="same.mp4")
        pipe.close_input()
        events = [event async for event in pipe]
    assert sum(isinstance(e, VideoDone) for e in events) == 2
    found = records(out)
    assert sorted(found.values()) == [str(one), str(two)]
    assert "same.mp4.json" in found


@pytest.mark.parametrize("rel", ["/etc/x.mp4", "../x.mp4", "a/../../x.mp4", "", ".", "a/\x00.mp4"])
async def test_the_api_rejects_a_rel_that_leaves_the_output_folder(
    cut_video: media.CutVideo, tmp_path: Path, rel: str
) -> None:
    async with streamclip.open_pipeline(load_config("default", STRIDE), tmp_path / "out") as pipe:
        with pytest.raises(ValueError, match="rel"):
            await pipe.submit(cut_video.path, rel=rel)
        pipe.close_input()
        assert [event async for event in pipe] == []


def test_check_rel_normalises_a_harmless_rel() -> None:
    assert check_rel("./a//b/x.mp4") == "a/b/x.mp4"
    assert check_rel("a/..x.mp4") == "a/..x.mp4"  # a name starting with dots is not '..'


def test_unique_rels_grow_by_folders_only_where_names_are_shared() -> None:
    paths = [Path("/m/a/x.mp4"), Path("/m/b/x.mp4"), Path("/m/b/y.mp4"), Path("/n/a/x.mp4")]
    assert unique_rels(paths, ["x.mp4", "x.mp4", "y.mp4", "x.mp4"]) == ["m/a/x.mp4", "b/x.mp4", "y.mp4", "n/a/x.mp4"]


def test_split_skips_an_output_folder_inside_the_input_and_says_so_once(
    cut_video: media.CutVideo, tmp_path: Path
) -> None:
    """`split DIR -o DIR/new` walked into an earlier output inside DIR and split its clips."""
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copyfile(cut_video.path, folder / "x.mp4")
    args = ["split", str(folder), *(arg for s in STRIDE for arg in ("--set", s))]
    first = subprocess.run([sys.executable, "-m", "streamclip", *args, "-o", str(folder / "old")],
                           capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-m", "streamclip", *args, "-o", str(folder / "new")],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "streamclip: 1 video(s), 0 failed; 8 clip(s) written" in second.stderr  # x.mp4 alone
    skipping = [line for line in second.stderr.splitlines() if "streamclip output" in line]
    assert skipping == [f"streamclip: skipping {folder / 'old'}: a streamclip output folder"]
    assert list(records(folder / "new")) == ["x.mp4.json"]


def test_expand_inputs_does_not_list_clips_of_an_output_folder(cut_video: media.CutVideo, tmp_path: Path) -> None:
    asyncio.run(streamclip.split([cut_video.path], tmp_path / "out", load_config("default", STRIDE)))
    shutil.copyfile(cut_video.path, tmp_path / "x.mp4")
    found = expand_inputs([str(tmp_path)])
    assert [v.rel for v in found.videos] == ["x.mp4"]
    assert found.skipped == [tmp_path / "out"]
