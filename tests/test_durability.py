"""Durable outputs: data fsynced before the rename and the folder after; a clip is finished only
when its size is the one its meta records."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import media
import pytest

import streamclip
from streamclip.config import load_config
from streamclip.contract.types import ClipReady
from streamclip.storage import workspace
from streamclip.storage.layout import finished_clip

STRIDE = ["spans.mode='fixed_stride'", "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0", "frames.enabled=false"]


def record_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patch os.fsync and os.replace in `workspace` to log 'fsync file', 'fsync folder', 'rename'."""
    log: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        log.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(workspace.os, "fsync", fsync)
    monkeypatch.setattr(workspace.os, "replace", replace)
    return log


def test_a_moved_clip_is_fsynced_before_the_rename_and_its_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work.mp4"
    work.write_bytes(b"clip")
    log = record_syncs(monkeypatch)
    workspace.move_atomic(str(work), tmp_path / "clips" / "x.mp4")
    assert log == ["fsync file", "rename", "fsync folder"]
    assert (tmp_path / "clips" / "x.mp4").read_bytes() == b"clip"


def test_a_written_meta_is_fsynced_before_the_rename_and_its_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = record_syncs(monkeypatch)
    workspace.write_atomic(tmp_path / "metas" / "x.json", b"{}")
    assert log == ["fsync file", "rename", "fsync folder"]


async def test_a_zero_length_clip_is_not_finished_and_is_made_again(cut_video: media.CutVideo, tmp_path: Path) -> None:
    """A power cut can leave a clip named but empty; it used to count as finished forever."""
    config = load_config("default", STRIDE)
    first = [e.clip for e in await streamclip.split([cut_video.path], tmp_path, config) if isinstance(e, ClipReady)]
    broken = first[2]
    assert broken.path is not None
    assert finished_clip(tmp_path, broken.uuid) is not None
    Path(broken.path).write_bytes(b"")  # the power cut
    assert finished_clip(tmp_path, broken.uuid) is None
    async with streamclip.open_pipeline(config, tmp_path) as pipe:
        await pipe.submit(cut_video.path)
        pipe.close_input()
        [event async for event in pipe]
        transcoder = pipe.statistics().transcoder
    assert transcoder is not None
    assert (transcoder.encoded, transcoder.reused) == (1, len(first) - 1)
    meta = json.loads((tmp_path / "metas" / "v0" / f"{broken.uuid}.json").read_text())
    assert Path(broken.path).stat().st_size == meta["num_bytes"] > 0


def test_a_writer_killed_before_its_rename_leaves_a_temp_that_names_it_and_only_its_temps_are_removed(
    tmp_path: Path,
) -> None:
    """A Ray worker killed between a record's write and its rename leaves the temporary file; the
    driver, seeing the worker die, removes that worker's temps and nobody else's (the poison-file
    test on Ray found one left in processed_videos/)."""
    record = tmp_path / "processed_videos" / "a.mp4.json"
    # A writer that dies (os._exit, like SIGKILL: no cleanup runs) after writing under the temp name.
    dies = (
        "import os, sys; from pathlib import Path; from streamclip.storage import workspace; "
        "t = workspace.temp_name(Path(sys.argv[1])); t.parent.mkdir(parents=True, exist_ok=True); "
        "t.write_bytes(b'{half'); print(os.getpid()); os._exit(9)"
    )
    done = subprocess.run([sys.executable, "-c", dies, str(record)], capture_output=True, text=True, check=False)
    dead_pid = int(done.stdout)
    (left,) = list(record.parent.glob("*.tmp"))
    assert left.name.startswith(f".a.mp4.json.{dead_pid}-")
    alive = workspace.temp_name(tmp_path / "metas" / "v0" / "b.json")  # another writer's, still at work
    alive.parent.mkdir(parents=True)
    alive.write_bytes(b"{")
    assert workspace.remove_temps_of(tmp_path, dead_pid) == [left]
    assert not left.exists()
    assert alive.exists()
    workspace.write_atomic(record, b"{}")
    assert [p.name for p in record.parent.iterdir()] == ["a.mp4.json"]
