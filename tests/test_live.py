"""Live sources read once (streamclip.live): a TCP listener, an SRT listener, live HLS over HTTP and
stdin (the CLI), with real ffmpeg senders paced like live encoders (at twice real time,
live_senders.READ_RATE) on 127.0.0.1, and their faults.

Every sender is held after the first scenes until the test has seen the first clip, so "the
first clip is out before the sender finishes" holds by construction; the spans must equal (±1
frame) those of a split of the same content saved as a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import media
import numpy as np
import psutil
import pytest
from live_senders import HeldSender, free_port, http_folder, packet_offset, wait_bound, wait_file
from processes import running, wait_until

import streamclip
from streamclip.config import LiveConfig, PipelineConfig, load_config
from streamclip.contract.stats import DecoderStats
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed
from streamclip.errors import Reason
from streamclip.ffmpeg import children
from streamclip.live.argv import reader_input, source_input
from streamclip.live.session import LiveSession
from streamclip.live.spool import Segment, Spool
from streamclip.sources import session_prefix

# 20 + 20 + 20 + 40 frames at 12.5 fps (8 s; the rate halves what is decoded and detected, the rules
# are in seconds), keyframes every 6 frames so spool segments are ~0.5 s.
FPS = 12.5
SCENES = [("testsrc2", 1.6), ("color=c=red", 1.6), ("mandelbrot", 1.6), ("smptebars", 3.2)]
TS_ARGS = ["-g", "6", "-f", "mpegts"]
# The senders wait here until the first clip is out, inside the last scene (frames 60 to 100) and past the
# 75 frames the detector needs to decide the first cut. Once the spool holds INSIDE_LAST_SCENE frames,
# every frame before the hold that ends a segment (a keyframe, every 6th) is read.
HOLD_AT_FRAME = 95
INSIDE_LAST_SCENE = 80
SETTINGS = ["spans.min_length_s=1.0", "spans.crop_s=0.2", "live.segment_s=0.5", "live.read_timeout_s=20"]
CROP = 2  # spans.crop_s = 0.2 s at 12.5 fps, truncated
SPOOLED = re.compile(r"spooled frames \[\d+, (\d+)\)")  # a `-v` log's line: the end of the frames spooled
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def live_media(tmp_path_factory: pytest.TempPathFactory) -> media.CutVideo:
    folder = tmp_path_factory.mktemp("live-media")
    return media.make_cut_video(folder / "scenes.ts", scenes=SCENES, fps=FPS, audio=True, extra_out_args=TS_ARGS)


def live_config(*more: str) -> PipelineConfig:
    return load_config("default", [*SETTINGS, *more])


@pytest.fixture(scope="module")
def reference_spans(live_media: media.CutVideo, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, int]]:
    """The spans of the same content split as a file."""
    out = tmp_path_factory.mktemp("live-reference")
    events = asyncio.run(streamclip.split([live_media.path], out, live_config()))
    return sorted(spans_of(events))


def spans_of(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.clip.span.start_frame, e.clip.span.end_frame) for e in events if isinstance(e, ClipReady)]


def assert_same_spans(got: list[tuple[int, int]], want: list[tuple[int, int]]) -> None:
    assert len(got) == len(want), (got, want)
    for (start, end), (ref_start, ref_end) in zip(sorted(got), want, strict=True):
        assert abs(start - ref_start) <= 1, (got, want)
        assert abs(end - ref_end) <= 1, (got, want)


def assert_playable(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, ClipReady):
            assert event.clip.ok, event.clip.errors
            assert event.clip.path
            frames = media.decodable_frames(event.clip.path)
            assert frames == event.clip.span.end_frame - event.clip.span.start_frame


async def held_run(pipe: streamclip.Pipeline, sender: HeldSender, source: str) -> list[Event]:
    """Feed the sender up to HOLD_AT_FRAME, wait for the first clip (the sender still held), then
    release it; all events until the source's end."""
    await sender.feed(packet_offset(sender.source, HOLD_AT_FRAME))
    events: list[Event] = []
    stream = aiter(pipe)
    async with asyncio.timeout(TIMEOUT_S):
        while not any(isinstance(e, ClipReady) for e in events):
            events.append(await anext(stream))
    assert isinstance(events[-1], ClipReady), events  # the first event is a clip, not the source's end
    assert sender.proc is not None
    assert sender.proc.returncode is None
    await sender.feed()
    assert await sender.finish() == 0
    async with asyncio.timeout(TIMEOUT_S):
        events += [event async for event in _rest(stream)]
    assert isinstance(events[-1], VideoDone), events[-1]
    assert events[-1].source.startswith(session_prefix(source))
    stats = pipe.statistics().decoder
    assert stats is not None
    assert stats.spool_bytes == 0
    assert stats.live_sources == 0
    assert 0 < stats.spool_peak_bytes < sender.source.stat().st_size  # segments went as clips were cut
    assert not list(pipe.workspace.root.glob("live-*"))  # the spool is gone
    return events


async def _rest(stream: AsyncIterator[Event]) -> AsyncIterator[Event]:
    async for event in stream:
        yield event


async def held_listener_run(
    url: str,
    sender_args: list[str],
    *,
    media_path: Path,
    out: Path,
    ready: Callable[[HeldSender], Awaitable[None]],
    sender_serves: bool = False,
    config: PipelineConfig | None = None,
) -> list[Event]:
    """`url` read live while a held paced sender (`ffmpeg ... <sender_args>`) sends `media_path`;
    every event (`held_run`). The pipeline listens and the sender connects once `ready` returns; or,
    with `sender_serves`, the sender publishes (HLS) and the pipeline reads once `ready` returns."""
    async with streamclip.open_pipeline(config or live_config(), out) as pipe:
        sender = HeldSender(media_path, sender_args)
        try:
            if sender_serves:
                await sender.start()
                await ready(sender)
                await pipe.submit(url)
            else:
                await pipe.submit(url)
                await ready(sender)
                await sender.start()
            pipe.close_input()
            return await held_run(pipe, sender, url)
        finally:
            await sender.kill()


SECRET = "S3cretT0ken"  # a query value `redact` hides: it must reach no ffmpeg command line


@pytest.fixture
def child_argvs() -> Iterator[list[str]]:
    """Every argument of every ffmpeg/ffprobe child that exits during the test."""
    seen: list[str] = []
    remove = children.on_child_exit(seen.extend)
    yield seen
    remove()


async def test_tcp_listener(
    live_media: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path, child_argvs: list[str]
) -> None:
    """The URL holds a token: read all the same, and never on the reader's command line."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}?listen=1&token={SECRET}"
    events = await held_listener_run(
        url, ["-f", "mpegts", f"tcp://127.0.0.1:{port}"], media_path=live_media.path, out=tmp_path / "out",
        ready=lambda _: wait_bound(port),
    )  # fmt: skip
    assert_same_spans(spans_of(events), reference_spans)
    assert_playable(events)
    assert children.live_children() == 0
    record = next((tmp_path / "out" / "processed_videos").rglob("*.json"))
    data = json.loads(record.read_text())
    assert data["status"] == "done"
    assert data["frames_decoded"] == live_media.num_frames
    assert data["live"]["session_start"]
    assert data["live"]["first_data_utc"]
    assert any("concat" in arg for arg in child_argvs), "the reader ran"
    assert not [arg for arg in child_argvs if SECRET in arg]
    assert SECRET not in json.dumps(data)


async def test_srt_listener(live_media: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path) -> None:
    port = free_port()
    url = f"srt://127.0.0.1:{port}?mode=listener"
    caller = f"srt://127.0.0.1:{port}?mode=caller&linger=2"  # linger: send all before closing
    events = await held_listener_run(
        url, ["-f", "mpegts", caller], media_path=live_media.path, out=tmp_path / "out",
        ready=lambda _: wait_bound(port, udp=True),
    )  # fmt: skip
    assert_same_spans(spans_of(events), reference_spans)
    assert_playable(events)


async def test_live_hls_over_http(
    live_media: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path, child_argvs: list[str]
) -> None:
    """A tokenised playlist (the server refuses it without its token): read, the token on no
    command line."""
    folder = tmp_path / "hls"
    folder.mkdir()
    playlist = folder / "live.m3u8"
    hls = ["-f", "hls", "-hls_time", "0.5", "-hls_list_size", "0", "-hls_segment_filename", str(folder / "s%04d.ts")]

    async def published(sender: HeldSender) -> None:
        # up to the hold at once (the sender probes 5 s of input before it writes anything)
        await sender.feed(packet_offset(live_media.path, HOLD_AT_FRAME))
        await wait_file(playlist)

    with http_folder(folder, playlist_token=SECRET) as port:
        url = f"http://127.0.0.1:{port}/live.m3u8?token={SECRET}"
        events = await held_listener_run(
            url, [*hls, str(playlist)], media_path=live_media.path, out=tmp_path / "out", ready=published,
            sender_serves=True, config=live_config("live.hls_live_start_index=0"),
        )  # fmt: skip
    assert_same_spans(spans_of(events), reference_spans)
    assert_playable(events)
    assert child_argvs
    assert not [arg for arg in child_argvs if SECRET in arg]


# ---------------------------------------------------------------------------------------------
# stdin through the CLI, ended by SIGINT in the middle of a scene


async def test_stdin_cli_sigint_closes_the_scene_in_progress(
    live_media: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path
) -> None:
    """`sender | streamclip split - …`; SIGINT once the held sender's frames are spooled (inside the
    last scene): the clips of the scenes before are the file's, the scene in progress is closed where
    the frames read end, as a file's last scene, and its clip written, exit 0, nothing left behind."""
    out = tmp_path / "out"
    read_end, write_end = os.pipe()
    sets = [f"--set={setting}" for setting in SETTINGS]
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamclip", "-v", "split", "-", "-o", str(out), "--events", "jsonl", "--no-progress",
        *sets, stdin=read_end, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    sender = HeldSender(live_media.path, ["-f", "mpegts", "pipe:1"], stdout=write_end)
    await sender.start()
    os.close(read_end)
    os.close(write_end)
    spooled = asyncio.Event()
    logs = asyncio.create_task(_read_log(cli, spooled, at_least=INSIDE_LAST_SCENE))
    try:
        await sender.feed(packet_offset(live_media.path, HOLD_AT_FRAME))
        assert cli.stdout is not None
        lines: list[dict[str, object]] = []
        async with asyncio.timeout(TIMEOUT_S):
            while not lines or lines[-1]["event"] != "clip":
                lines.append(json.loads(await cli.stdout.readline()))
            assert sender.proc is not None
            assert sender.proc.returncode is None  # the first clip is out while the sender is held
            await spooled.wait()  # the frames before the hold are read: we are inside the last scene
            cli.send_signal(signal.SIGINT)
            lines += [json.loads(line) for line in (await cli.stdout.read()).decode().splitlines()]
            status = await cli.wait()
            err = await logs
    finally:
        if cli.returncode is None:
            cli.kill()
            await cli.wait()
        await sender.kill()
    assert status == 0, err
    assert lines[-1]["event"] == "video_done"
    assert str(lines[-1]["source"]).startswith("stdin#session=")
    spans = sorted(tuple(line["frames"]) for line in lines if line["event"] == "clip")  # type: ignore[arg-type]
    assert_same_spans(spans[:-1], reference_spans[:-1])  # the scenes that ended before the signal
    record = json.loads(next((out / "processed_videos").rglob("*.json")).read_text())
    last_read = record["frames_decoded"]
    assert INSIDE_LAST_SCENE <= last_read <= HOLD_AT_FRAME
    assert abs(spans[-1][0] - reference_spans[-1][0]) <= 1
    # the scene in progress, closed as a file's last scene is: before the last frame read, then cropped
    assert spans[-1][1] == last_read - 1 - CROP
    assert not list(out.glob(".streamclip-work*"))
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]
    for line in lines:
        if line["event"] == "clip":
            assert media.decodable_frames(str(line["path"])) > 0


async def _read_log(cli: asyncio.subprocess.Process, spooled: asyncio.Event, *, at_least: int) -> str:
    """The CLI's stderr; `spooled` is set once its debug log says frames up to `at_least` are spooled."""
    assert cli.stderr is not None
    seen: list[str] = []
    while line := (await cli.stderr.readline()).decode(errors="replace"):
        seen.append(line)
        found = SPOOLED.search(line)
        if found and int(found[1]) >= at_least:
            spooled.set()
    return "".join(seen[-50:])


async def test_stdin_closed_before_any_video(tmp_path: Path) -> None:
    """A pipe that closes before sending anything: one failed source, a reason, exit 1."""
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamclip", "split", "-", "-o", str(tmp_path / "out"), "--no-progress",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(TIMEOUT_S):
        _, err = await done.communicate()
    assert done.returncode == 1
    assert "FAILED stdin#session=" in err.decode()
    assert "no video received" in err.decode()


# ---------------------------------------------------------------------------------------------
# Faults, through the API


async def run_source(url: str, tmp_path: Path, *settings: str) -> list[Event]:
    async with streamclip.open_pipeline(live_config(*settings), tmp_path / "out") as pipe:
        await pipe.submit(url)
        pipe.close_input()
        async with asyncio.timeout(TIMEOUT_S):
            events = [event async for event in pipe]
        assert not list(pipe.workspace.root.glob("live-*"))
    assert children.live_children() == 0
    return events


async def test_refused_connection_fails_with_a_reason(tmp_path: Path) -> None:
    [event] = await run_source(f"tcp://127.0.0.1:{free_port()}", tmp_path)
    assert isinstance(event, VideoFailed)
    assert event.kind == Reason.UNREACHABLE
    assert "Connection refused" in event.reason


async def test_source_that_never_sends_times_out(tmp_path: Path) -> None:
    [event] = await run_source(f"tcp://127.0.0.1:{free_port()}?listen=1", tmp_path, "live.read_timeout_s=1.5")
    assert isinstance(event, VideoFailed)
    assert event.kind == Reason.TIMEOUT
    assert "sent nothing for 1.5 s" in event.reason


async def test_garbage_is_not_a_video(tmp_path: Path) -> None:
    port = free_port()

    async def send_garbage() -> None:
        await wait_bound(port)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(os.urandom(400_000))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    sending = asyncio.create_task(send_garbage())
    [event] = await run_source(f"tcp://127.0.0.1:{port}?listen=1", tmp_path)
    await sending
    assert isinstance(event, VideoFailed)
    assert event.kind == Reason.NOT_A_VIDEO
    assert "no video received" in event.reason


async def test_sender_vanishing_mid_scene_keeps_the_clips(
    live_media: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path
) -> None:
    """The sender is killed after the first clip, wherever it is: the clips written stay, those of
    the scenes it finished are the file's, the scene it was in is closed where the frames read end."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}?listen=1"
    async with streamclip.open_pipeline(live_config(), tmp_path / "out") as pipe:
        await pipe.submit(url)
        pipe.close_input()
        await wait_bound(port)
        sender = HeldSender(live_media.path, ["-f", "mpegts", f"tcp://127.0.0.1:{port}"])
        await sender.start()
        await sender.feed(packet_offset(live_media.path, HOLD_AT_FRAME))
        events: list[Event] = []
        stream = aiter(pipe)
        async with asyncio.timeout(TIMEOUT_S):
            while not any(isinstance(e, ClipReady) for e in events):
                events.append(await anext(stream))
            await sender.kill()  # gone without a word
            events += [event async for event in _rest(stream)]
        assert not list(pipe.workspace.root.glob("live-*"))
    assert children.live_children() == 0
    ends = [e for e in events if isinstance(e, VideoDone | VideoFailed)]
    assert len(ends) == 1
    assert ends[0] is events[-1]
    clips = [e.clip for e in events if isinstance(e, ClipReady)]
    assert all(c.path and Path(c.path).is_file() for c in clips)
    last_read = json.loads(next((tmp_path / "out" / "processed_videos").rglob("*.json")).read_text())["frames_decoded"]
    finished = [span for span in reference_spans if span[1] + CROP + 10 < last_read]  # scenes it finished sending
    spans = sorted((c.span.start_frame, c.span.end_frame) for c in clips)
    assert_same_spans(spans[: len(finished)], finished)
    assert all(end <= last_read - CROP for _, end in spans)


# ---------------------------------------------------------------------------------------------
# Ends and limits


async def unheld_tcp_run(
    path: Path, tmp_path: Path, *settings: str, duration_s: float | None = None
) -> tuple[list[Event], DecoderStats]:
    """A TCP listener fed by a paced sender that is not held; all events, statistics checked."""
    port = free_port()
    async with streamclip.open_pipeline(live_config(*settings), tmp_path / "out") as pipe:
        await pipe.submit(f"tcp://127.0.0.1:{port}?listen=1", duration_s=duration_s)
        pipe.close_input()
        await wait_bound(port)
        sender = HeldSender(path, ["-f", "mpegts", f"tcp://127.0.0.1:{port}"])
        await sender.start()
        finishing = asyncio.create_task(sender.feed_all_and_finish())
        try:
            async with asyncio.timeout(TIMEOUT_S):
                events = [event async for event in pipe]
        finally:
            await sender.kill()
            await finishing
        stats = pipe.statistics().decoder
        assert stats is not None
        assert not list(pipe.workspace.root.glob("live-*"))
    assert children.live_children() == 0
    return events, stats


async def test_duration_ends_the_source(live_media: media.CutVideo, tmp_path: Path) -> None:
    events, _ = await unheld_tcp_run(live_media.path, tmp_path, duration_s=3.0)
    done = events[-1]
    assert isinstance(done, VideoDone)
    assert done.metadata is not None
    # 3 s, then the source ends cleanly: the frames timed before 3 s (38 at 12.5 fps), give or take the
    # 2 that stream copy, stopping in decode order, lets through around the B-frames
    assert abs(done.metadata.num_frames - math.ceil(3.0 * FPS)) <= 2


async def test_a_scene_outgrowing_the_spool_is_closed_at_the_limit(tmp_path: Path) -> None:
    """One 12 s scene (~230 kB), no maximum clip length, a spool limit of 300 kB: nothing of the
    scene can be deleted before its clip, so the spool grows until it reaches half the limit; there
    the scene is closed (counted), its clip written and its segments freed, and the scene goes on."""
    one_scene = media.make_cut_video(tmp_path / "one.ts", scenes=[("testsrc2", 12.0)], fps=FPS, extra_out_args=TS_ARGS)
    assert one_scene.path.stat().st_size > 200_000  # the scene is bigger than the spool
    events, stats = await unheld_tcp_run(one_scene.path, tmp_path, "spans.max_length_s=0", "live.spool_max_mb=0.3")
    done = events[-1]
    assert isinstance(done, VideoDone), done
    assert stats.scenes_cut_at_spool_limit >= 1
    assert stats.spool_peak_bytes <= 300_000
    clips = [e.clip for e in events if isinstance(e, ClipReady)]
    assert len(clips) >= 2
    assert all(clip.ok for clip in clips)


# ---------------------------------------------------------------------------------------------
# Parts


def test_lag_is_measured_and_warned_past_max_lag(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Lag = now minus when the segment of the newest decoded frame was complete on disk."""
    session = LiveSession("tcp://127.0.0.1:9", LiveConfig(max_lag_s=2.0), tmp_path)
    arrived = time.monotonic() - 5.0
    session.spool.segments.append(Segment(0, tmp_path / "seg000000.ts", 0, 25, 1000, arrived))
    session.spool.frames, session.frames_decoded = 25, 10
    assert 5.0 <= session.lag_s() < 6.0
    with caplog.at_level(logging.WARNING):
        session._check_lag()
        session._check_lag()  # once per episode, not once per check
    assert caplog.text.count("behind live (live.max_lag_s = 2)") == 1


def test_network_sources_never_get_the_file_protocol() -> None:
    for url in ("http://h/live.m3u8", "srt://h:1", "tcp://h:1", "udp://h:1", "rtmp://h/a", "rtsp://h/s"):
        argv = source_input(url, LiveConfig())
        allowed = argv[argv.index("-protocol_whitelist") + 1].split(",")
        assert "file" not in allowed, url
    assert source_input("-", LiveConfig())[-2:] == ["-i", "pipe:0"]


async def test_a_full_spool_fails_the_source(live_media: media.CutVideo, tmp_path: Path) -> None:
    """A limit below the detector's look-ahead (75 frames, ~115 kB here): the source fails with
    that reason instead of filling the disk; nothing is left behind."""
    events, stats = await unheld_tcp_run(live_media.path, tmp_path, "live.spool_max_mb=0.02")
    failed = events[-1]
    assert isinstance(failed, VideoFailed)
    assert failed.kind == Reason.SPOOL_FULL
    assert "live.spool_max_mb" in failed.reason
    assert stats.spool_bytes == 0


async def test_serve_streams_only_sigterm_closes_the_scene_in_progress(
    live_media: media.CutVideo, reference_spans: list[tuple[int, int]], tmp_path: Path
) -> None:
    """`serve` with `streams` and no watched folder; SIGTERM while the held sender is inside the
    last scene: the session ends at once (not at the drain timeout) with the scene in progress
    closed and its clip written, one `done` record, exit 0, nothing left behind."""
    port = free_port()
    out = tmp_path / "out"
    sets = ", ".join(f'"{setting}"' for setting in SETTINGS)
    lines = [
        'output = "out"',
        f'streams = ["tcp://127.0.0.1:{port}?listen=1"]',
        'metrics_address = ""',
        "drain_timeout_s = 120.0",  # a drain that waited for the timeout would fail the time bound below
        f"set = [{sets}]",
    ]
    (tmp_path / "serve.toml").write_text("\n".join(lines) + "\n")
    log = tmp_path / "serve.log"
    with running(["-v", "serve", "--config", "serve.toml"], tmp_path, log) as daemon:
        await wait_bound(port)
        sender = HeldSender(live_media.path, ["-f", "mpegts", f"tcp://127.0.0.1:{port}"])
        await sender.start()
        try:
            await sender.feed(packet_offset(live_media.path, HOLD_AT_FRAME))
            metas = out / "metas" / "v0"
            await asyncio.to_thread(wait_until, lambda: list(metas.glob("*.json")), "the first clip", daemon, TIMEOUT_S)
            assert sender.proc is not None
            assert sender.proc.returncode is None  # held: the first clip came out mid-stream
            # the frames before the hold are read: we are inside the last scene
            await asyncio.to_thread(
                wait_until, lambda: spooled_up_to(log) >= INSIDE_LAST_SCENE, "frames spooled", daemon, TIMEOUT_S
            )
            status, took_s = await asyncio.to_thread(daemon.stop, signal.SIGTERM, 60.0)
        finally:
            await sender.kill()
    assert status == 0, daemon.stderr
    assert took_s < 60, daemon.stderr
    records = list((out / "processed_videos").rglob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "done", record
    assert str(record["video"]).startswith(session_prefix(f"tcp://127.0.0.1:{port}?listen=1"))
    spans = sorted(tuple(json.loads(meta.read_text())["frame_span"]) for meta in (out / "metas" / "v0").glob("*.json"))
    last_read = record["frames_decoded"]
    assert INSIDE_LAST_SCENE <= last_read <= HOLD_AT_FRAME
    assert_same_spans(spans[:-1], reference_spans[:-1])  # type: ignore[arg-type]
    assert abs(spans[-1][0] - reference_spans[-1][0]) <= 1
    # the scene in progress, closed as a file's last scene is: before the last frame read, then cropped
    assert spans[-1][1] == last_read - 1 - CROP
    assert not list(out.glob(".streamclip-work*"))
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]


def spooled_up_to(log: Path) -> int:
    """The end of the frames a `-v` log says are spooled."""
    return max(map(int, SPOOLED.findall(log.read_text())), default=0)


async def test_timestamp_jumps_forward_and_back_are_not_fatal(tmp_path: Path) -> None:
    """A stream whose timestamps jump 1000 s ahead, then back to 0 (a restarted encoder, a spliced
    feed): every frame is counted once, in order, and the clips fall at the content's cuts."""
    part, data = jumping_stream(tmp_path)
    out = tmp_path / "out"
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamclip", "split", "-", "-o", str(out), "--events", "jsonl", "--no-progress",
        "--set=spans.min_length_s=1.0", "--set=spans.crop_s=0.25", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(TIMEOUT_S):
        stdout, stderr = await cli.communicate(data)
    assert cli.returncode == 0, stderr.decode()
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    assert lines[-1]["event"] == "video_done"
    record = json.loads(next((out / "processed_videos").rglob("*.json")).read_text())
    assert record["frames_decoded"] == 3 * part.num_frames
    crop = 3  # 0.25 s at 12.5 fps, truncated
    cuts = [n * round(2.0 * FPS) for n in range(7)]  # six 2 s scenes
    spans = [tuple(line["frames"]) for line in lines if line["event"] == "clip"]
    assert_same_spans(spans, [(a + crop, b - crop) for a, b in itertools.pairwise(cuts)])  # type: ignore[arg-type]
    for line in lines[:-1]:
        assert media.decodable_frames(str(line["path"])) == line["frames"][1] - line["frames"][0]


def jumping_stream(folder: Path) -> tuple[media.CutVideo, bytes]:
    """Two 2 s scenes as MPEG-TS, three times: at 0 s, 1000 s ahead, and back at 0 s."""
    scenes = [("testsrc2", 2.0), ("mandelbrot", 2.0)]
    part = media.make_cut_video(folder / "part.ts", scenes=scenes, fps=FPS, extra_out_args=TS_ARGS)
    ahead = folder / "ahead.ts"
    argv = [media.FFMPEG, "-v", "error", "-i", str(part.path), "-c", "copy", "-output_ts_offset", "1000"]
    subprocess.run([*argv, "-f", "mpegts", str(ahead)], check=True, timeout=60)
    return part, part.path.read_bytes() + ahead.read_bytes() + part.path.read_bytes()


@pytest.mark.parametrize("fault", ["timeout", "spawn"])
async def test_a_tool_failing_on_one_live_source_fails_that_source_not_the_pipeline(
    live_media: media.CutVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """ffprobe, counting a live source's spool segments, never answers (past `limits.probe_timeout_s`)
    or cannot be started: that source fails saying so, and a file submitted after it is still split
    by the same pipeline (the error used to end the whole pipeline)."""
    if fault == "timeout":  # ffprobe itself for everything but the spool's segments
        wrapper = tmp_path / "ffprobe"
        wrapper.write_text(f'#!/bin/sh\ncase "$*" in *seg0*) exec sleep 60;; esac\nexec {media.FFPROBE} "$@"\n')
        wrapper.chmod(0o755)
        monkeypatch.setenv("STREAMCLIP_FFPROBE", str(wrapper))
    else:
        monkeypatch.setenv("STREAMCLIP_FFPROBE", str(tmp_path / "no-such-ffprobe"))
    port = free_port()
    config = live_config("limits.probe_timeout_s=2")
    async with streamclip.open_pipeline(config, tmp_path / "out") as pipe:
        await pipe.submit(f"tcp://127.0.0.1:{port}?listen=1")
        await wait_bound(port)
        sender = HeldSender(live_media.path, ["-f", "mpegts", f"tcp://127.0.0.1:{port}"])
        await sender.start()
        feeding = asyncio.create_task(sender.feed())
        stream = aiter(pipe)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                live_end = await anext(stream)
                assert isinstance(live_end, VideoFailed), live_end
                assert live_end.kind == (Reason.TIMEOUT if fault == "timeout" else Reason.MISSING_TOOL), live_end
                assert "ffprobe" in live_end.reason
                monkeypatch.delenv("STREAMCLIP_FFPROBE")
                await pipe.submit(live_media.path)
                pipe.close_input()
                rest = [event async for event in _rest(stream)]
        finally:
            await sender.kill()
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await feeding
        assert not list(pipe.workspace.root.glob("live-*"))
    assert isinstance(rest[-1], VideoDone), rest[-1]
    assert rest[-1].source == str(live_media.path)
    assert children.live_children() == 0


def list_lines(first: int, count: int) -> bytes:
    """Lines of ffmpeg's CSV segment list (name, start, end) for segments first .. first+count-1."""
    return b"".join(f"seg{n:06d}.ts,{n:.6f},{n + 1:.6f}\n".encode() for n in range(first, first + count))


async def test_the_spool_reads_only_what_was_appended_and_keeps_no_history(tmp_path: Path) -> None:
    """A stream of a month lists millions of segments: each poll reads only the lines appended since
    the last (a line still without its newline waits), and what the spool holds in memory does not
    grow with the segments it has finished and deleted. (ffprobe's count is the edge: 25 frames each.)"""

    async def frames(path: Path) -> int:
        return 25

    folder = tmp_path / "spool"
    spool = Spool(folder, count=frames)
    listing = folder / "segments.csv"
    listing.write_bytes(list_lines(0, 10_000))
    assert len(await spool.poll()) == 10_000
    spool.delete_before(spool.frames, up_to_index=spool.finished)
    assert spool.list_bytes_read == listing.stat().st_size

    line = list_lines(10_000, 1)
    with listing.open("ab") as f:
        f.write(line[:7])  # ffmpeg is writing the line
    assert await spool.poll() == []
    with listing.open("ab") as f:
        f.write(line[7:])
    [segment] = await spool.poll()
    assert (segment.index, segment.path.name, segment.first_frame) == (10_000, "seg010000.ts", 250_000)
    assert spool.list_bytes_read == listing.stat().st_size  # the new line only, once

    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for first in range(10_001, 50_001, 1000):
            with listing.open("ab") as f:
                f.write(list_lines(first, 1000))
            assert len(await spool.poll()) == 1000
            spool.delete_before(spool.frames, up_to_index=spool.finished)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    kept = sum(stat.size_diff for stat in after.compare_to(before, "filename") if "spool.py" in str(stat.traceback))
    assert kept < 50_000, f"the spool grew by {kept} bytes over 40,000 segments finished and deleted"
    assert spool.finished == 50_001
    assert spool.segments == []


async def test_a_live_sessions_decisions_are_written_in_parts_as_it_goes(
    live_media: media.CutVideo, tmp_path: Path
) -> None:
    """With `live.decisions_part_s = 2`, parts of the decisions are on disk while the sender is still
    held (so before the session ends); at the end the session's record names them, and together
    they hold every clip once, frames counted from the session's start, without a gap."""
    out, port = tmp_path / "out", free_port()
    async with streamclip.open_pipeline(live_config("live.decisions_part_s=2"), out) as pipe:
        await pipe.submit(f"tcp://127.0.0.1:{port}?listen=1")
        pipe.close_input()
        await wait_bound(port)
        sender = HeldSender(live_media.path, ["-f", "mpegts", f"tcp://127.0.0.1:{port}"])
        await sender.start()
        events: list[Event] = []

        async def collect() -> None:
            events.extend([event async for event in pipe])

        collecting = asyncio.create_task(collect())
        try:
            await sender.feed(packet_offset(live_media.path, HOLD_AT_FRAME))
            async with asyncio.timeout(TIMEOUT_S):
                while not list(out.rglob("*.part-00001.json")):
                    assert not collecting.done(), events
                    await asyncio.sleep(0.1)
            assert sender.proc is not None
            assert sender.proc.returncode is None  # still held: the session has not ended
            await sender.feed()
            assert await sender.finish() == 0
            async with asyncio.timeout(TIMEOUT_S):
                await collecting
        finally:
            await sender.kill()
            collecting.cancel()
    assert isinstance(events[-1], VideoDone), events[-1]
    [final] = [p for p in (out / "decisions").rglob("*.json") if ".part-" not in p.name]
    record = json.loads(final.read_text())
    assert record["parts"]
    paths = [out / "decisions" / name for name in record["parts"]] + [final]
    records = [json.loads(path.read_text()) for path in paths]
    assert records[0].get("first_frame", 0) == 0
    for before, after in itertools.pairwise(records):
        assert after["first_frame"] == before["frames_seen"]
        assert before["status"] == "part"
    assert record["frames_seen"] == record["num_frames"]
    clips = [clip for r in records for clip in r["clips"]]
    assert [clip["index"] for clip in clips] == list(range(len(clips)))
    assert sorted(clip["uuid"] for clip in clips) == sorted(
        str(e.clip.uuid) for e in events if isinstance(e, ClipReady)
    )
    for path, r in zip(paths, records, strict=True):
        probabilities = np.load(path.with_name(path.name.removesuffix(".json") + ".probs.npy"), allow_pickle=False)
        assert len(probabilities) == r["frames_seen"] - r.get("first_frame", 0)


def test_a_url_with_a_secret_is_read_from_a_list_on_stdin_never_from_the_command_line() -> None:
    for url in (
        "rtmp://h/live2/STREAMKEY123",
        "srt://h:9000?mode=caller&passphrase=hunter2hunter2",
        "rtsp://user:pa'ss@h/s",
        "http://h/live.m3u8?token=abc",
    ):
        argv, listing = reader_input(url, LiveConfig())
        assert listing is not None, url
        assert argv[-2:] == ["-i", "pipe:0"]
        assert "file" not in argv[argv.index("-protocol_whitelist") + 1].split(",")
        assert not [arg for arg in argv if "h/" in arg or "h:" in arg], argv
        text = listing.decode()
        assert text.startswith("ffconcat version 1.0\n")
        assert "option rw_timeout" in text or "option timeout" in text
    assert "file 'rtsp://user:pa'\\''ss@h/s'" in reader_input("rtsp://user:pa'ss@h/s", LiveConfig()).listing.decode()
    assert reader_input("srt://h:9000?mode=listener", LiveConfig()).listing is None  # nothing to hide
    assert reader_input("-", LiveConfig()).listing is None
    with pytest.raises(ValueError, match="line break"):
        reader_input("rtmp://h/live/key\nfile '/etc/passwd'", LiveConfig())
