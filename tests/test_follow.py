"""Following a growing file (`submit(path, follow=True)`, `split --follow`): real ffmpeg, real
TransNetV2, a generated MPEG-TS written by the test in pieces.

"The first clip is out before the writer finishes" is true by construction: the writer holds the
rest of the file back until it has seen the first `ClipReady`. While it holds back it appends MPEG-TS
null packets (PID 0x1FFF, which every demuxer skips), so the file keeps growing without new
content and the short `follow_idle_s` of these tests does not end it however slow the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import media
import pytest
from processes import ledger_rows, running, states, wait_until

import streamclip
from streamclip.config import PipelineConfig, load_config
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed
from streamclip.errors import Reason
from streamclip.ffmpeg import children
from streamclip.ingest.watcher import Candidate, Watcher
from streamclip.live.follow import Container, FollowedFile, container_of
from streamclip.runtime.channel import Channel

SCENES = [("testsrc2", 3.5), ("mandelbrot", 3.5), ("smptebars", 3.5), ("rgbtestsrc", 3.5), ("cellauto", 3.5)]
# 8 fps: the detector's cost is per frame (per window of 50), and the span rules are in seconds: at
# 8 fps they crop 4 frames at each end and keep at least 16, so each 28-frame scene gives one clip.
FPS = 8
# The writer holds back everything from 12 s (frame 96, inside the fourth scene; cuts at 28, 56,
# 84, 112: 3.5, 7, 10.5, 14 s) on. What it writes first decodes to 93 frames: the detector's first
# window needs 75, and the decoder hands them over a few frames late (the first clip came out of
# 81 decodable frames, not 77). Up to 100 frames (two windows) keep a first pass cheap.
HOLD_AT_S = 12.0
NULL_PACKET = b"\x47\x1f\xff\x10" + b"\xff" * 184
IDLE_S = 1.0
CUT_SHORT_BOX = b"\x00\x00\x00\x01ftyp\x00\x00\x00\x00"  # an MP4 box header cut short (a file mid-write)


@pytest.fixture(scope="module")
def ts_video(tmp_path_factory: pytest.TempPathFactory) -> media.CutVideo:
    """140 frames at 8 fps in MPEG-TS, cuts (and keyframes) at 28, 56, 84, 112."""
    return media.make_cut_video(tmp_path_factory.mktemp("follow") / "scenes.ts", scenes=SCENES, fps=FPS)


@pytest.fixture(scope="module")
def reference(ts_video: media.CutVideo, tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """The events of a split of the complete file."""
    return asyncio.run(streamclip.split([ts_video.path], tmp_path_factory.mktemp("ref"), config()))


@pytest.fixture(scope="module")
def reference_spans(reference: list[Event]) -> list[tuple[int, int]]:
    return sorted(clip_frames(reference))


def test_every_clip_of_a_complete_ts_file_is_cut(ts_video: media.CutVideo, reference: list[Event]) -> None:
    """ffmpeg 5.1 seeks in MPEG-TS to the keyframe after the target: the last clip (its span
    starts 4 frames, 0.5 s, after the last keyframe) used to come out empty."""
    clips = [e.clip for e in reference if isinstance(e, ClipReady)]
    assert len(clips) == 5
    assert max(keyframes(ts_video)) < max(clip.span.start_frame for clip in clips)  # no keyframe to land on
    for clip in clips:
        assert clip.ok, clip.errors
        assert clip.path is not None
        assert abs(media.decodable_frames(clip.path) - (clip.span.end_frame - clip.span.start_frame)) <= 1


def config(*overrides: str) -> PipelineConfig:
    return load_config("default", [f"limits.follow_idle_s={IDLE_S}", "frames.enabled=false", *overrides])


def clip_frames(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.clip.span.start_frame, e.clip.span.end_frame) for e in events if isinstance(e, ClipReady)]


def video_packets(path: Path, second: str) -> list[tuple[str, str]]:
    """(pts_time, `second`) of each video packet, in file order, as ffprobe lists them."""
    argv = [media.FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", f"packet=pts_time,{second}"]
    out = subprocess.run([*argv, "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return [(t, value) for t, value, *_ in (line.split(",") for line in out.splitlines() if line.strip())]


def keyframes(video: media.CutVideo) -> list[int]:
    """The frame numbers of the video's keyframes."""
    rows = video_packets(video.path, "flags")
    start = min(float(t) for t, _ in rows)
    return sorted(round((float(t) - start) * video.fps) for t, flags in rows if "K" in flags)


def hold_offset(path: Path, seconds: float) -> int:
    """The byte offset (on a TS packet boundary) of the first video packet at `seconds` or later."""
    rows = video_packets(path, "pos")
    start = float(rows[0][0])
    pos = next(int(p) for t, p in rows if float(t) - start >= seconds)
    return pos - pos % 188


class Writer:
    """Writes a TS file in two parts; between them it keeps the file growing with null packets."""

    def __init__(self, path: Path, data: bytes, hold_at: int) -> None:
        self.path, self.data, self.hold_at = path, data, hold_at
        self.finished = False

    def write_first_part(self) -> None:
        self.path.write_bytes(self.data[: self.hold_at])

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        async def pad() -> None:
            while not self.finished:
                with self.path.open("ab") as f:
                    f.write(NULL_PACKET)
                await asyncio.sleep(0.1)

        task = asyncio.create_task(pad())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def write_rest(self) -> None:
        with self.path.open("ab") as f:
            f.write(self.data[self.hold_at :])
        self.finished = True


async def follow_once(
    writer: Writer, out: Path, *, on_first_clip: str = "write_rest"
) -> tuple[list[Event], ClipReady | None]:
    """Follow `writer.path` until its end event; at the first ClipReady, do `on_first_clip`."""
    events: list[Event] = []
    first: ClipReady | None = None
    async with streamclip.open_pipeline(config(), out) as pipe, writer.holding():
        await pipe.submit(writer.path, follow=True)
        pipe.close_input()
        async for event in pipe:
            events.append(event)
            if isinstance(event, ClipReady) and first is None:
                first = event
                assert not writer.finished
                act_on(writer, on_first_clip)
                break
        async for event in pipe:
            events.append(event)
    return events, first


def act_on(writer: Writer, action: str) -> None:
    if action == "write_rest":
        writer.write_rest()
    elif action == "truncate":
        writer.finished = True
        os.truncate(writer.path, writer.hold_at // 2)
    elif action == "replace":
        writer.finished = True
        staged = writer.path.with_name(".staged.ts")
        staged.write_bytes(writer.data)
        os.replace(staged, writer.path)


def leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def test_containers_are_told_apart_by_content(ts_video: media.CutVideo, tmp_path: Path) -> None:
    """A classic MP4 (index at the end, or in front after +faststart) is not followable; a
    fragmented one, Matroska, FLV and TS are, whatever their names say."""
    small = [("testsrc2", 0.4)]
    made = {
        "classic.ts": ([], "mp4", Container.MP4),  # an MP4 named .ts
        "faststart.mp4": (["-movflags", "+faststart"], "mp4", Container.MP4),
        "fragmented.mp4": (["-movflags", "frag_keyframe+empty_moov"], "mp4", Container.FRAGMENTED_MP4),
        "a.mkv": ([], "matroska", Container.MATROSKA),
        "a.flv": ([], "flv", Container.FLV),
        "a.mp4": ([], "mpegts", Container.MPEGTS),  # a TS named .mp4
    }
    for name, (args, fmt, expected) in made.items():
        path = media.make_cut_video(tmp_path / name, scenes=small, extra_out_args=[*args, "-f", fmt]).path
        assert container_of(path) is expected, name
    (tmp_path / "short.ts").write_bytes(ts_video.path.read_bytes()[:100])
    assert container_of(tmp_path / "short.ts") is Container.UNKNOWN  # not enough of it yet


@pytest.mark.parametrize(
    "head",
    [
        CUT_SHORT_BOX,  # a 64-bit box size announced, the file ends before it
        b"\x00\x00\x00\x01ftyp" + (4).to_bytes(8, "big"),  # a 64-bit size smaller than its header
        b"\x00\x00\x00\x05ftypisom",  # a size smaller than the box header
        b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\x00\x00\x00\x01moov\x00\x00",  # moov size cut short
        b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\x00\x00\x00\x04moov",  # moov smaller than its header
        b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\x00\x00\x00\x20fre",  # the next box header cut short
        b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\x00\x00\x01\x00moov\x00\x00",  # a moov still arriving
    ],
)
def test_a_short_or_malformed_iso_file_is_unknown_not_an_error(tmp_path: Path, head: bytes) -> None:
    """A file caught mid-write, or a damaged one, is "not recognisable (yet)": never an exception."""
    path = tmp_path / "caught.mp4"
    path.write_bytes(head)
    assert container_of(path) is Container.UNKNOWN


@pytest.mark.parametrize("change", ["grows", "truncated", "rewritten in place", "replaced", "header updated"])
def test_a_followed_file_that_only_grows_is_told_from_one_that_changed(tmp_path: Path, change: str) -> None:
    path = tmp_path / "live.ts"
    path.write_bytes(os.urandom(100_000))
    followed = FollowedFile(str(path))
    assert followed.change() is None
    data = path.read_bytes()
    if change == "grows":
        path.write_bytes(data + os.urandom(5000))
    elif change == "truncated":
        os.truncate(path, 50_000)
    elif change == "rewritten in place":
        with path.open("r+b") as f:  # its size only grows: from the outside it looks like growth
            f.write(os.urandom(120_000))
    elif change == "replaced":
        staged = tmp_path / "staged.ts"
        staged.write_bytes(data)
        os.replace(staged, path)
    else:  # a muxer finishing a Matroska or FLV file rewrites sizes and durations in its header
        with path.open("r+b") as f:
            f.write(os.urandom(100))
            f.seek(0, os.SEEK_END)
            f.write(os.urandom(100))
    why = followed.change()
    assert (why is None) is (change in ("grows", "header updated")), why
    if why is not None:
        assert change.split()[0] in why


async def test_a_growing_file_gives_its_first_clip_before_it_is_written_and_the_same_spans(
    ts_video: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path
) -> None:
    data = ts_video.path.read_bytes()
    writer = Writer(tmp_path / "in" / "live.ts", data, hold_offset(ts_video.path, HOLD_AT_S))
    writer.path.parent.mkdir()
    writer.write_first_part()
    events, first = await follow_once(writer, tmp_path / "out")

    assert first is not None
    assert writer.finished
    done = events[-1]
    assert isinstance(done, VideoDone), done
    spans = sorted(clip_frames(events))
    assert len(spans) == len(reference_spans)
    for (start, end), (ref_start, ref_end) in zip(spans, reference_spans, strict=True):
        assert abs(start - ref_start) <= 1
        assert abs(end - ref_end) <= 1
    for event in events:
        if isinstance(event, ClipReady):
            assert event.clip.ok, event.clip.errors
            assert event.clip.path is not None
            span = event.clip.span
            assert abs(media.decodable_frames(event.clip.path) - (span.end_frame - span.start_frame)) <= 1
    assert done.metadata is not None
    assert done.metadata.num_frames == ts_video.num_frames
    record = json.loads((tmp_path / "out" / "processed_videos" / "live.ts.json").read_text())
    assert record["status"] == "done"
    assert record["frames_decoded"] == ts_video.num_frames
    assert children.live_children() == 0
    assert leftovers(tmp_path / "out") == []


async def test_a_followed_file_that_grows_again_is_redone_reusing_its_clips(
    ts_video: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path
) -> None:
    data = ts_video.path.read_bytes()
    path, out = tmp_path / "live.ts", tmp_path / "out"
    hold_at = hold_offset(ts_video.path, HOLD_AT_S)
    path.write_bytes(data[:hold_at])
    async with streamclip.open_pipeline(config(), out) as pipe:
        await pipe.submit(path, follow=True)
        pipe.close_input()
        first = [event async for event in pipe]
    assert isinstance(first[-1], VideoDone)
    before = {e.clip.uuid: Path(e.clip.path or "").stat().st_mtime_ns for e in first if isinstance(e, ClipReady)}
    assert before

    with path.open("ab") as f:  # it grows again
        f.write(data[hold_at:])
    async with streamclip.open_pipeline(config(), out) as pipe:
        await pipe.submit(path, follow=True)
        pipe.close_input()
        second = [event async for event in pipe]
    assert isinstance(second[-1], VideoDone)
    assert sorted(clip_frames(second)) == reference_spans or len(clip_frames(second)) == len(reference_spans)
    again = {e.clip.uuid for e in second if isinstance(e, ClipReady)}
    kept = [uuid for uuid in before if uuid in again]
    # every clip of the first pass is made again by the second, but the last one (its scene was
    # cut short where the file ended): those are reused, not encoded again
    assert len(kept) >= len(before) - 1
    for uuid in kept:
        assert (out / "clips" / f"{uuid}.mp4").stat().st_mtime_ns == before[uuid]


@pytest.mark.parametrize("change", ["truncate", "replace"])
async def test_a_followed_file_truncated_or_replaced_fails_keeping_its_clips(
    ts_video: media.CutVideo, tmp_path: Path, change: str
) -> None:
    data = ts_video.path.read_bytes()
    writer = Writer(tmp_path / "live.ts", data, hold_offset(ts_video.path, HOLD_AT_S))
    writer.write_first_part()
    events, first = await follow_once(writer, tmp_path / "out", on_first_clip=change)

    assert first is not None
    assert first.clip.path is not None
    failed = events[-1]
    assert isinstance(failed, VideoFailed), failed
    assert failed.kind is Reason.SOURCE_CHANGED
    assert ("truncated" if change == "truncate" else "replaced") in failed.reason
    assert Path(first.clip.path).is_file()
    assert (tmp_path / "out" / "metas" / "v0" / f"{first.clip.uuid}.json").is_file()
    assert children.live_children() == 0
    assert leftovers(tmp_path / "out") == []


def test_split_follow_cli_and_sigint_mid_file(ts_video: media.CutVideo, tmp_path: Path) -> None:
    """`streamclip split --follow`: clips as the file grows; SIGINT while it waits for more ends
    cleanly (exit 130, clips kept, no work files, no ffmpeg child)."""
    data = ts_video.path.read_bytes()
    path, out = tmp_path / "live.ts", tmp_path / "out"
    path.write_bytes(data[: hold_offset(ts_video.path, HOLD_AT_S)])
    argv = [sys.executable, "-m", "streamclip", "split", "--follow", "--follow-idle", "30", str(path)]
    argv += ["-o", str(out), "--events", "jsonl", "--set", "frames.enabled=false"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # the file is not complete: only --follow waits
        assert first["event"] == "clip"
        assert first["path"]
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert Path(first["path"]).is_file()
    assert leftovers(out) == []
    assert str(path) not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


# ---------------------------------------------------------------------------------------------
# watch/serve with follow = true


class Padder:
    """Keeps a file growing with TS null packets from a thread (for code that is not async)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            with self.path.open("ab") as f:
                f.write(NULL_PACKET)

    def __enter__(self) -> Padder:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


async def test_watcher_starts_a_growing_ts_at_once_and_waits_for_a_classic_mp4(
    ts_video: media.CutVideo, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    classic = media.make_cut_video(tmp_path / "classic.mp4", scenes=SCENES[:2], fps=FPS).path.read_bytes()
    mp4, ts = folder / "b.mp4", folder / "a.ts"
    mp4.write_bytes(classic[: len(classic) // 2])  # mdat first, no moov yet: unreadable until complete
    ts.write_bytes(ts_video.path.read_bytes()[: hold_offset(ts_video.path, 2.0)])
    out: Channel[Candidate] = Channel(8, "candidates")
    watcher = Watcher([folder], out, settle_s=2.0, rescan_s=60, incomplete_wait_s=60, force_polling=True, follow=True)
    runner = asyncio.create_task(watcher.run())
    try:
        with Padder(ts):  # the TS never settles: only following can take it
            first = await asyncio.wait_for(out.receive(), 30)
        assert first.path == str(ts)
        assert first.follow
        assert watcher._pending[str(mp4)].followable is False  # looked at, and left to settle
        mp4.write_bytes(classic)  # now complete
        second = await asyncio.wait_for(out.receive(), 30)
        assert second.path == str(mp4)
        assert not second.follow
        assert not second.error
    finally:
        watcher.stop()
        await runner


def test_watch_follow_takes_a_growing_file_then_its_regrowth_reusing_clips(
    ts_video: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path
) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    data, path = ts_video.path.read_bytes(), folder / "live.ts"
    hold_at = hold_offset(ts_video.path, HOLD_AT_S)
    path.write_bytes(data[:hold_at])
    args = ["watch", "--follow", str(folder), "-o", str(out), "--settle-s", "60", "--no-progress"]
    args += ["--set", "frames.enabled=false", "--set", f"limits.follow_idle_s={IDLE_S}"]
    with running(args, tmp_path, tmp_path / "watch.log") as daemon:
        with Padder(path):  # held back until the first clip is out: the file never settles meanwhile
            wait_until(lambda: list((out / "clips").glob("*.mp4")), "the first clip", daemon, 60)
        # it stops growing: finished after follow_idle_s
        wait_until(lambda: states(out).get("live.ts") == "done", "the first pass done", daemon, 60)
        first = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.mp4")}
        with path.open("ab") as f:
            f.write(data[hold_at:])  # it grows again
        size = path.stat().st_size

        def second_pass_done() -> bool:
            row = ledger_rows(out).get(str(path), {})
            return row.get("state") == "done" and row.get("size") == size

        wait_until(second_pass_done, "the second pass done", daemon, 60)
        status, _ = daemon.stop()
    assert status == 0, daemon.stderr
    record = json.loads((out / "processed_videos" / "live.ts.json").read_text())
    assert record["frames_decoded"] == ts_video.num_frames
    assert record["num_total_clips"] == len(reference_spans)
    clips = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.mp4")}
    kept = [name for name in first if clips.get(name) == first[name]]
    assert len(kept) >= len(first) - 1  # all but the clip of the scene open where it stopped: reused
    assert leftovers(out) == [] or all(p.is_relative_to(out / ".streamclip") for p in leftovers(out))


def test_watch_follow_lives_through_an_mp4_box_cut_short_and_so_does_its_restart(
    ts_video: media.CutVideo, tmp_path: Path
) -> None:
    """`watch DIR --follow` with a file in DIR that is an MP4 box header cut short: the daemon keeps
    running and processes the file beside it; restarted over the same folder, it does again (it used
    to exit 1 at the first look at the file, and at every restart)."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "caught.mp4").write_bytes(CUT_SHORT_BOX)
    args = ["watch", "--follow", str(folder), "-o", str(out), "--settle-s", "1", "--no-progress"]
    args += ["--set", "frames.enabled=false", "--set", f"limits.follow_idle_s={IDLE_S}"]
    for run, name in (("first", "a.ts"), ("restart", "b.ts")):
        shutil.copy(ts_video.path, folder / name)  # b.ts: the same content (a duplicate, done at once)
        with running(args, tmp_path, tmp_path / f"{run}.log") as daemon:
            wait_until(lambda name=name: states(out).get(name) == "done", f"{name} done ({run})", daemon, 120)
            status, _ = daemon.stop()
        assert status == 0, daemon.stderr
        assert "Traceback" not in daemon.stderr
    assert states(out).get("caught.mp4") in (None, "quarantined")  # waited for, or set aside: never fatal


def test_watch_follow_sees_a_file_rewritten_in_place_and_never_reuses_its_old_clips(
    ts_video: media.CutVideo, tmp_path: Path
) -> None:
    """A followed file written again from its start, larger, through the same inode (as `cp` over it
    or a recorder restarting over it does; its size never seen to shrink): the reader sees it by its
    content, the ledger records `source_changed`, and
    the new content's clips are all encoded anew (same path and spans make the same clip ids: an old
    clip must not stand for the new content)."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    other = media.make_cut_video(tmp_path / "other.ts", scenes=SCENES[::-1], fps=FPS).path.read_bytes()  # same cuts
    data, path = ts_video.path.read_bytes(), folder / "live.ts"
    path.write_bytes(data[: hold_offset(ts_video.path, HOLD_AT_S)])
    inode = path.stat().st_ino
    args = ["watch", "--follow", str(folder), "-o", str(out), "--settle-s", "3", "--no-progress"]
    args += ["--set", "frames.enabled=false", "--set", f"limits.follow_idle_s={IDLE_S}"]
    with running(args, tmp_path, tmp_path / "watch.log") as daemon:
        with Padder(path):
            wait_until(lambda: list((out / "clips").glob("*.mp4")), "the first clip", daemon, 180)
        old = {p.name: p.stat().st_ino for p in (out / "clips").glob("*.mp4")}
        other += NULL_PACKET * max(0, (path.stat().st_size - len(other)) // len(NULL_PACKET) + 100)  # larger
        with path.open("r+b") as f:  # in place, from the start, larger: its size is never seen to shrink
            f.write(other)
        assert path.stat().st_ino == inode

        # Failed as `source_changed`: the daemon's line names the kind it records in the ledger (one
        # call, `Outcomes.set_aside`). The ledger's `failed` row itself lasts only until the watcher
        # takes the new content, at once for a followed file: a poll of the ledger can miss it.
        line = f"FAILED {path.name} [source_changed]: the file was rewritten in place"
        wait_until(lambda: line in daemon.stderr, "the change seen", daemon, 60)
        size = len(other)

        def redone() -> bool:
            row = ledger_rows(out).get(str(path), {})
            return row.get("state") == "done" and row.get("size") == size

        wait_until(redone, "the new content done", daemon, 120)
        status, _ = daemon.stop()
    assert status == 0, daemon.stderr
    now = {p.name: p.stat().st_ino for p in (out / "clips").glob("*.mp4")}
    assert now
    assert not [name for name in old if now.get(name) == old[name]]  # not one old clip stands for the new content
    record = json.loads((out / "processed_videos" / "live.ts.json").read_text())
    assert record["num_total_clips"] == len(now)
