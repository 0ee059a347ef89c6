"""The `streamclip` command, run for real in subprocesses (`python -m streamclip`)."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import media
import pytest
from processes import leftovers

from streamclip.contract.rules import clip_uuid

# Fixed-stride 2 s clips: no decoding, no model, several clips per short video.
FIXED_2S = [
    *("--set", 'spans.mode="fixed_stride"'),
    *("--set", "spans.clip_len_s=2.0"),
    *("--set", "spans.clip_stride_s=2.0"),
]
EVENTS = {"clip", "video_done", "video_failed"}


def streamclip(*args: str | os.PathLike[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamclip", *map(os.fspath, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def event_lines(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line is one JSON event, and nothing else is printed there."""
    events = [json.loads(line) for line in stdout.splitlines()]
    for event in events:
        assert event["event"] in EVENTS, event
        assert isinstance(event["elapsed_s"], float | int), event
        assert event["elapsed_s"] >= 0
    return events


def check_clip_lines(events: list[dict[str, Any]], out: Path, cwd: Path) -> list[dict[str, Any]]:
    clips = [e for e in events if e["event"] == "clip"]
    for clip in clips:
        start_frame, end_frame = clip["frames"]
        assert clip["uuid"] == str(clip_uuid(clip["source"], start_frame, end_frame))
        start_s, end_s = clip["span"]
        assert 0 <= start_s < end_s
        assert clip["errors"] == {}
        assert (cwd / clip["path"]).resolve() == (out / "clips" / f"{clip['uuid']}.mp4").resolve()
        assert (cwd / clip["path"]).is_file()
        assert (out / "metas" / "v0" / f"{clip['uuid']}.json").is_file()
    return clips


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Short videos: a (3 scenes, 7.44 s: 3 fixed-stride clips), b (2 scenes, 4.96 s: 2 clips)."""
    folder = tmp_path_factory.mktemp("cli_media")
    media.make_cut_video(folder / "a.mp4", scenes=[("testsrc2", 2.5), ("color=c=red", 2.5), ("mandelbrot", 2.5)])
    media.make_cut_video(folder / "b.mp4", scenes=[("smptebars", 2.5), ("color=c=blue", 2.5)])
    return folder


# ---------------------------------------------------------------------------------------------
# split


def test_split_folder_jsonl(videos: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(videos / "a.mp4", folder / "sub" / "a.mp4")
    shutil.copy(videos / "b.mp4", folder / "b.mp4")
    shutil.copy(videos / "b.mp4", folder / ".x.mp4")  # hidden: ignored
    (folder / ".hidden").mkdir()
    shutil.copy(videos / "b.mp4", folder / ".hidden" / "c.mp4")  # in a hidden folder: ignored
    (folder / "notes.txt").write_text("not a video\n")  # not a video extension: ignored

    done = streamclip("split", "in", "-o", "out", "--events", "jsonl", *FIXED_2S, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    events = event_lines(done.stdout)
    clips = check_clip_lines(events, out, tmp_path)

    a, b = str(folder / "sub" / "a.mp4"), str(folder / "b.mp4")
    assert {e["source"] for e in events} == {a, b}
    finished = {e["source"]: e for e in events if e["event"] == "video_done"}
    assert set(finished) == {a, b}
    assert [e["num_clips"] for e in (finished[a], finished[b])] == [3, 2]
    for source in (a, b):
        mine = [c for c in clips if c["source"] == source]
        assert sorted(c["index"] for c in mine) == list(range(len(mine)))
        assert max(events.index(c) for c in mine) < events.index(finished[source])
    spans = sorted(tuple(c["span"]) for c in clips if c["source"] == a)
    assert spans == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]

    assert {p.stem for p in (out / "clips").iterdir()} == {c["uuid"] for c in clips}
    assert {p.stem for p in (out / "metas" / "v0").iterdir()} == {c["uuid"] for c in clips}
    meta = json.loads((out / "metas" / "v0" / f"{clips[0]['uuid']}.json").read_text())
    assert meta["span_uuid"] == clips[0]["uuid"]
    assert meta["source_video"] == clips[0]["source"]
    for rel in ("sub/a.mp4", "b.mp4"):
        record = json.loads((out / "processed_videos" / f"{rel}.json").read_text())
        assert record["status"] == "done"
        assert record["video"] == str(folder / rel)
    assert len(list((out / "processed_videos").rglob("*.json"))) == 2
    assert leftovers(out) == []
    assert "2 video(s), 0 failed; 5 clip(s) written" in done.stderr


def test_split_with_failures_exits_1_and_keeps_good_clips(videos: Path, tmp_path: Path) -> None:
    media.make_text(tmp_path / "text.mp4")
    done = streamclip(
        "split", videos / "b.mp4", "missing.mp4", "text.mp4", "-o", "out", "--events", "jsonl", *FIXED_2S,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    out = tmp_path / "out"
    events = event_lines(done.stdout)
    assert len(check_clip_lines(events, out, tmp_path)) == 2
    failed = {Path(e["source"]).name: e["reason"] for e in events if e["event"] == "video_failed"}
    assert failed.keys() == {"missing.mp4", "text.mp4"}
    assert failed["missing.mp4"] == "file not found"
    assert failed["text.mp4"].startswith("not a video file")

    assert "3 video(s), 2 failed; 2 clip(s) written" in done.stderr
    failed_lines = [line.strip() for line in done.stderr.splitlines() if "FAILED" in line]
    assert f"FAILED {tmp_path / 'missing.mp4'} [missing]: file not found" in failed_lines
    assert any(line.startswith(f"FAILED {tmp_path / 'text.mp4'} [not_a_video]: not a video") for line in failed_lines)
    assert len(failed_lines) == 2
    record = json.loads((out / "processed_videos" / "missing.mp4.json").read_text())
    assert record["status"] == "failed"
    assert leftovers(out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "nope"], "unknown profile 'nope'"),
        (["--profile", "missing.toml"], "profile file not found"),
        (["--set", "detector.treshold=0.5"], "detector.treshold"),
        (["--set", "treshold=0.5"], "section.key=value"),
        (["--set", "channels.frames=0"], "channels.frames"),
    ],
)
def test_configuration_errors_exit_2(videos: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = streamclip("split", videos / "a.mp4", "-o", "out", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert "configuration error" in done.stderr
    assert message in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "out").exists()  # nothing started


def test_usage_error_exits_2(tmp_path: Path) -> None:
    done = streamclip("split", "x.mp4", cwd=tmp_path)  # no -o
    assert done.returncode == 2
    assert "-o" in done.stderr


def test_no_video_found_exits_1(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello\n")
    (tmp_path / "docs" / ".hidden.mp4").write_text("hidden\n")
    for folder in ("empty", "docs"):
        done = streamclip("split", folder, "-o", "out", cwd=tmp_path)
        assert done.returncode == 1
        assert f"no video files found in {folder}" in done.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# probe, profiles


def test_probe_prints_json(videos: Path, tmp_path: Path) -> None:
    done = streamclip("probe", videos / "a.mp4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["path"] == str(videos / "a.mp4")
    assert (info["fps"], info["num_frames"], info["width"], info["height"]) == (25.0, 186, 160, 90)
    assert info["is_10_bit"] is False
    assert info["video_codec"] == "h264"


def test_probe_failures_exit_1_with_reason(tmp_path: Path) -> None:
    done = streamclip("probe", "missing.mp4", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"{tmp_path / 'missing.mp4'}: file not found" in done.stderr
    media.make_text(tmp_path / "text.mp4")
    done = streamclip("probe", "text.mp4", cwd=tmp_path)
    assert done.returncode == 1
    assert "not a video file" in done.stderr


def test_profiles(tmp_path: Path) -> None:
    done = streamclip("profiles", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert set(names) >= {"default", "fixed-stride", "cosmos", "nvidia"}
    assert all(len(line.split()) > 1 for line in done.stdout.splitlines())  # each with its description


# ---------------------------------------------------------------------------------------------
# Ctrl-C


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s, five 4 s scenes at 25 fps: a scene-mode split takes a while, its first clip comes early."""
    scenes = [
        ("testsrc2", 4.0),
        ("color=c=red", 4.0),
        ("mandelbrot", 4.0),
        ("smptebars", 4.0),
        ("rgbtestsrc", 4.0),
    ]
    return media.make_cut_video(tmp_path_factory.mktemp("cli_long") / "long.mp4", scenes=scenes).path


def read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    """The next stdout line, or fail after `timeout_s` (the child is killed)."""
    assert proc.stdout is not None
    fd, data, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"no event line after {timeout_s} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                pytest.fail(f"stdout closed before an event line (status {proc.wait()}): {data!r}")
            data += chunk
    return data.split(b"\n", 1)[0]


def ffmpeg_children_mentioning(*paths: Path) -> list[str]:
    """Command lines of running ffmpeg processes that name one of `paths` (ours, orphaned or not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        line = b" ".join(argv).decode("utf-8", "replace")
        if argv and b"ffmpeg" in Path(os.fsdecode(argv[0])).name.encode() and any(str(p) in line for p in paths):
            found.append(f"{entry.name}: {line}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [False, True], ids=["sigint-to-cli", "sigint-to-group"])
def test_ctrl_c_stops_cleanly(long_video: Path, tmp_path: Path, to_group: bool) -> None:
    """SIGINT after the first clip: status 130 within 20 s, no ffmpeg left, no partial file.

    `sigint-to-cli` signals the CLI alone (its children must be killed by it); `sigint-to-group`
    signals the whole process group, as a terminal's Ctrl-C does. One window per forward pass
    keeps the first clip early and the in-flight (uninterruptible) forward pass short.
    """
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "streamclip", "split", str(long_video), "-o", str(out)]
    argv += ["--events", "jsonl", "--set", "detector.batch_windows=1"]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        first = json.loads(read_line(proc, timeout_s=150))
        assert first["event"] == "clip"
        assert proc.poll() is None, "the split finished before it could be interrupted"
        if to_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        try:
            stdout, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("streamclip did not exit within 20 s of SIGINT")
        stopped_in = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode()
    assert stopped_in < 20
    assert ffmpeg_children_mentioning(long_video, tmp_path) == []

    event_lines(stdout.decode())  # whatever came after the first line is still JSON lines
    clips = sorted((out / "clips").iterdir())
    assert out / "clips" / f"{first['uuid']}.mp4" in clips
    for clip in clips:
        assert clip.suffix == ".mp4"
        uuid.UUID(clip.stem)
        assert (out / "metas" / "v0" / f"{clip.stem}.json").is_file(), f"{clip.name} has no meta"
        assert b"moov" in clip.read_bytes(), f"{clip.name} is incomplete"
    assert leftovers(out) == []
