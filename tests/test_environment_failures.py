"""A broken *environment* (a full disk, no ffmpeg, an output that cannot be made) fails the clip or
video it hits, with a typed reason kind, a truthful summary and exit status, and never crashes the
pipeline. Fixed-stride spans (no model) keep these fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import media
import pytest

import streamclip
from streamclip.config import PipelineConfig, load_config
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed
from streamclip.errors import Reason
from streamclip.ingest import daemon
from streamclip.ingest.config import ServeConfig
from streamclip.ingest.daemon import MAX_ATTEMPTS
from streamclip.ingest.ledger import Ledger
from streamclip.ingest.report import LineReporter

STRIDE = ["spans.mode='fixed_stride'", "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0", "frames.enabled=false"]


def stride_config() -> PipelineConfig:
    return load_config("default", STRIDE)


def set_args() -> list[str]:
    return [arg for setting in STRIDE for arg in ("--set", setting)]


def cli(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`streamclip ARGS` as a user runs it (its own process, so PATH and the exit status are real)."""
    return subprocess.run(
        [sys.executable, "-m", "streamclip", *map(str, args)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `where` (a full disk on demand); the test is skipped where none can be mounted."""
    where.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that fills up) needs root and mount(8)")
    done = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


# ---------------------------------------------------------------------------------------------
# A full disk


def test_a_full_disk_fails_clips_with_output_io_and_the_run_exits_1(cut_video: media.CutVideo, tmp_path: Path) -> None:
    """OUT on a 100 KiB tmpfs (the whole output takes about 190 KiB): the first clips fit, later
    ones fail `output_io`; the run goes on to the end, the summary names each failed clip's reason,
    and the exit status is 1."""
    with small_tmpfs(tmp_path / "disk", "100k") as out:
        done = cli("split", cut_video.path, "-o", out, *set_args(), "--events", "jsonl")
        written = list((out / "clips").glob("*.mp4"))
        leftovers = [*out.rglob(".streamclip-work-*"), *out.rglob("*.tmp")]
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    failed_lines = [line for line in done.stderr.splitlines() if "[output_io]" in line]
    assert failed_lines, done.stderr  # every failed clip is named with its kind
    assert "[incomplete]" not in done.stderr  # a write that failed is not blamed on the source
    assert len(written) >= 1, "the first clips should fit on the disk"
    assert leftovers == []
    events = [line for line in done.stdout.splitlines() if '"event":"clip"' in line]
    assert len(events) == 8  # 17 s in 2 s pieces: every clip has an outcome, written or failed
    assert any('"kind":"output_io"' in line for line in events)  # --events jsonl carries the kind too


# ---------------------------------------------------------------------------------------------
# No ffmpeg


async def test_ffmpeg_gone_mid_run_fails_the_clips_not_the_pipeline(
    cut_video: media.CutVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The binary vanishes after the pipeline opened: every clip fails `missing_tool`, the video
    ends with them counted, and the pipeline ends normally."""
    events: list[Event] = []
    async with streamclip.open_pipeline(stride_config(), tmp_path / "out") as pipe:
        monkeypatch.setenv("STREAMCLIP_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
        await pipe.submit(cut_video.path)
        pipe.close_input()
        events = [event async for event in pipe]
    clips = [e.clip for e in events if isinstance(e, ClipReady)]
    assert len(clips) == 8
    assert {clip.failure_kind for clip in clips} == {Reason.MISSING_TOOL}
    (done,) = [e for e in events if isinstance(e, VideoDone)]
    assert (done.num_clips, done.num_failed_clips) == (0, 8)


def test_split_without_ffmpeg_on_path_says_so_in_one_line(cut_video: media.CutVideo, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMCLIP_")}
    env["PATH"] = str(tmp_path / "empty-bin")
    done = cli("split", cut_video.path, "-o", tmp_path / "out", *set_args(), env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("streamclip: ffmpeg not found on PATH"), lines


async def test_ffprobe_gone_fails_each_video_with_missing_tool(
    cut_video: media.CutVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with streamclip.open_pipeline(stride_config(), tmp_path / "out") as pipe:
        monkeypatch.setenv("STREAMCLIP_FFPROBE", str(tmp_path / "no-such-ffprobe"))
        for _ in range(2):
            await pipe.submit(cut_video.path)
        pipe.close_input()
        events = [event async for event in pipe]
    assert [(type(e), e.kind) for e in events if isinstance(e, VideoFailed)] == [(VideoFailed, Reason.MISSING_TOOL)] * 2


# ---------------------------------------------------------------------------------------------
# Usage errors: one clear line, exit 2


@pytest.mark.parametrize("command", ["split", "watch"])
def test_an_output_folder_that_cannot_be_created_is_one_line_and_exit_2(
    cut_video: media.CutVideo, tmp_path: Path, command: str
) -> None:
    """`-o` under a regular file printed a Python traceback."""
    (tmp_path / "a-file").write_text("not a folder")
    given = cut_video.path if command == "split" else tmp_path
    done = cli(command, given, "-o", tmp_path / "a-file" / "out", *set_args())
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"streamclip: cannot write to the output folder {tmp_path / 'a-file' / 'out'}: "
                                        "Not a directory"]  # fmt: skip


def test_a_read_only_output_folder_is_one_line_and_exit_2(cut_video: media.CutVideo, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro", "1m") as out:
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        done = cli("split", cut_video.path, "-o", out, *set_args())
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"streamclip: cannot write to the output folder {out}: Read-only file system"]


@pytest.mark.parametrize(
    "args",
    [["split", "x.mp4"], ["split", "x.mp4", "-o", "out", "--ray-actors", "many"], ["nosuchcommand"], ["status", "-x"]],
)
def test_an_argument_error_is_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    done = cli(*args)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("streamclip")
    assert line.endswith("--help)")


# ---------------------------------------------------------------------------------------------
# A daemon whose pipeline fails


class BreakingPipeline:
    """A pipeline whose event stream fails once a video is in it (a bug, a lost cluster)."""

    def __init__(self) -> None:
        self.submitted = asyncio.Event()

    async def submit(self, path: str | os.PathLike[str], *, rel: str | None = None, follow: bool = False) -> None:
        self.submitted.set()

    def close_input(self) -> None:
        pass

    def stop_live(self) -> None:
        pass

    def statistics(self) -> dict[str, Any]:
        return {"channels": {}, "actors": {}}

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        await self.submitted.wait()
        raise RuntimeError("the pipeline broke")
        yield  # an async generator


async def test_rows_in_flight_when_the_daemon_fails_go_back_to_queued_without_a_death(
    cut_video: media.CutVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They stayed `running`, so after three such failures an innocent file was quarantined."""
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    shutil.copyfile(cut_video.path, root / "x.mp4")

    @contextlib.asynccontextmanager
    async def breaking(*args: Any, **kwargs: Any) -> AsyncIterator[BreakingPipeline]:
        yield BreakingPipeline()

    monkeypatch.setattr(daemon, "open_pipeline", breaking)
    config = ServeConfig(watch=[str(root)], output=str(out), settle_s=0.2, metrics_address="")
    for _ in range(MAX_ATTEMPTS + 1):
        status = await asyncio.wait_for(daemon.Daemon(config, LineReporter(io.StringIO())).run(), timeout=60)
        assert status == 1  # a part of the daemon failed
    with Ledger(out / ".streamclip" / "ledger.sqlite") as ledger:
        row = ledger.get(str(root / "x.mp4"))
    assert row is not None
    assert (row.state, row.attempts, row.note) == ("queued", 0, "interrupted: a part of the daemon failed")
