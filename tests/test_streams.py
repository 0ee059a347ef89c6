"""`serve`'s `streams = [...]`: the supervisor that keeps each URL open (a fake submit edge, fast),
and the real thing end to end (ffmpeg senders into a TCP listener that `serve` reads)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import media
import pytest
from processes import running, wait_until

from streamclip.contract.types import Clip, ClipReady, ClipStats, Span, VideoDone, VideoFailed
from streamclip.errors import ConfigError, Reason
from streamclip.ingest.config import ServeConfig, load_serve_config
from streamclip.ingest.streams import JITTER, Backoff, StreamRetry, StreamSupervisor
from streamclip.sources import session_prefix, session_source, url_key

SECRET_URL = "srt://user:hunter2@127.0.0.1:9000?passphrase=topsecret&latency=200"


def ended(source: str, *, failed: bool = False) -> VideoDone | VideoFailed:
    if failed:
        return VideoFailed(source=source, reason="connection refused", num_clips=0, elapsed_s=0.0, kind=Reason.OTHER)
    return VideoDone(
        source=source, num_clips=1, num_failed_clips=0, metadata=None, stats=ClipStats(), timings_s={}, elapsed_s=0.0
    )


class FakePipe:
    """The submit edge: records each session and ends it when told (or at once)."""

    def __init__(self, supervisor_of: list[StreamSupervisor], *, end_at_once: bool = True) -> None:
        self.supervisor_of = supervisor_of
        self.end_at_once = end_at_once
        self.sessions: list[str] = []
        self.submitted = asyncio.Event()

    async def wait_for_sessions(self, count: int) -> None:
        while len(self.sessions) < count:
            self.submitted.clear()
            await self.submitted.wait()

    async def submit(self, url: str) -> None:
        source = session_source(url, dt.datetime.now(dt.UTC))
        self.sessions.append(source)
        self.submitted.set()
        if self.end_at_once:  # the daemon hands events over as they come: a little later
            asyncio.get_running_loop().call_soon(self.supervisor_of[0].on_event, ended(source, failed=True))


def test_backoff_doubles_up_to_its_cap_with_jitter_and_resets_after_a_long_session() -> None:
    retry = StreamRetry(retry_s=1.0, retry_max_s=8.0, reset_after_s=30.0)
    backoff = Backoff(retry, random.Random(7))
    waits = [backoff.after(0.5) for _ in range(6)]
    for wait, base in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * (1 - JITTER) <= wait <= base * (1 + JITTER)
    assert len({round(w, 6) for w in waits[3:]}) == 3  # jittered: no two streams in step
    assert backoff.after(30.0) <= 1 + JITTER  # a session that ran long enough: back to the first wait
    assert 2 * (1 - JITTER) <= backoff.after(0.1) <= 2 * (1 + JITTER)


def test_retry_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="stream_retry_s"):
        StreamRetry(retry_s=0.0)
    with pytest.raises(ValueError, match="stream_retry_s"):
        StreamRetry(retry_s=10.0, retry_max_s=5.0)


async def test_a_stream_is_submitted_again_after_each_session_until_stopped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    holder: list[StreamSupervisor] = []
    pipe = FakePipe(holder)
    reconnects: list[str] = []
    supervisor = StreamSupervisor(
        [SECRET_URL], pipe.submit, StreamRetry(retry_s=0.001, retry_max_s=0.004), on_reconnect=reconnects.append
    )
    holder.append(supervisor)
    runner = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(pipe.wait_for_sessions(5), 5)
    supervisor.stop()
    await asyncio.wait_for(runner, 5)
    count = len(pipe.sessions)
    await asyncio.sleep(0.02)
    assert len(pipe.sessions) == count  # stopped: no new session
    assert len(reconnects) == count - 1
    assert set(reconnects) == {url_key(SECRET_URL)}  # a metric label: a hash, never the URL
    assert len(set(pipe.sessions)) == count  # each session its own source id
    assert "hunter2" not in caplog.text
    assert "topsecret" not in caplog.text
    assert "reconnecting in" in caplog.text
    stats = supervisor.statistics()[url_key(SECRET_URL)]
    assert stats["url"] == "srt://127.0.0.1:9000?passphrase=REDACTED&latency=200"
    assert stats["sessions"] == count


async def test_stop_ends_the_wait_for_a_session_in_flight_and_a_backoff() -> None:
    holder: list[StreamSupervisor] = []
    pipe = FakePipe(holder, end_at_once=False)
    supervisor = StreamSupervisor(["tcp://127.0.0.1:9"], pipe.submit, StreamRetry(retry_s=3600, retry_max_s=3600))
    holder.append(supervisor)
    runner = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(pipe.submitted.wait(), 5)
    supervisor.stop()  # while the session is in flight
    await asyncio.wait_for(runner, 5)

    supervisor = StreamSupervisor(["tcp://127.0.0.1:9"], pipe.submit, StreamRetry(retry_s=3600, retry_max_s=3600))
    holder[0] = supervisor
    pipe.end_at_once = True
    runner = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(pipe.wait_for_sessions(2), 5)
    await asyncio.sleep(0.05)  # the session ends: the supervisor waits an hour before the next one
    assert len(pipe.sessions) == 2
    supervisor.stop()
    await asyncio.wait_for(runner, 5)


async def test_a_refused_submit_counts_as_an_ended_session(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0
    thrice = asyncio.Event()

    async def refuse(url: str) -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            thrice.set()
        raise ValueError(f"{url}: unsupported source scheme")

    supervisor = StreamSupervisor([SECRET_URL], refuse, StreamRetry(retry_s=0.001, retry_max_s=0.002))
    runner = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(thrice.wait(), 5)
    supervisor.stop()
    await asyncio.wait_for(runner, 5)
    assert "could not be opened" in caplog.text
    assert "hunter2" not in caplog.text
    assert "topsecret" not in caplog.text


def test_events_are_told_apart_by_session_source() -> None:
    supervisor = StreamSupervisor(["tcp://127.0.0.1:9000"], lambda url: asyncio.sleep(0), StreamRetry())
    session = session_source("tcp://127.0.0.1:9000", dt.datetime.now(dt.UTC))
    clip = Clip(uuid=__import__("uuid").uuid4(), source=session, index=0, span=Span.from_frames(0, 50, 25.0))
    assert supervisor.on_event(ClipReady(clip=clip, elapsed_s=0.0))
    assert supervisor.on_event(ended(session))
    assert not supervisor.on_event(ended("/videos/tcp:/127.0.0.1:9000"))
    assert not supervisor.on_event(ended(session_source("tcp://127.0.0.1:9001", dt.datetime.now(dt.UTC))))


def test_serve_config_streams(tmp_path: Path) -> None:
    config = ServeConfig(watch=["in"], output="out", streams=["tcp://127.0.0.1:9000?listen=1"])
    assert config.stream_retry() == StreamRetry()
    for bad, message in [("/videos/a.ts", "not a URL"), ("gopher://user:hunter2@h/x", "unsupported source scheme")]:
        path = tmp_path / "serve.toml"
        path.write_text(f'watch = ["in"]\noutput = "out"\nstreams = ["{bad}"]\n')
        with pytest.raises(ConfigError, match=message) as error:
            load_serve_config(path)
        assert "hunter2" not in str(error.value)


# ---------------------------------------------------------------------------------------------
# End to end: `serve` listens on 127.0.0.1 (tcp://…?listen=1), an ffmpeg sender connects, sends a
# generated video at its rate (-re) and leaves; the daemon opens the stream again, a second sender
# comes: two sessions, two records, clips from both.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sent_video(tmp_path_factory: pytest.TempPathFactory) -> media.CutVideo:
    scenes = [("testsrc2", 2.5), ("mandelbrot", 2.5), ("smptebars", 2.5)]
    return media.make_cut_video(tmp_path_factory.mktemp("sent") / "sent.ts", scenes=scenes)


def send(video: Path, port: int, deadline_s: float = 30.0) -> None:
    """One ffmpeg sender: connect (retrying while the daemon is not listening yet), send at rate, leave."""
    argv = [media.FFMPEG, "-hide_banner", "-v", "error", "-re", "-i", str(video), "-c", "copy", "-f", "mpegts"]
    deadline = time.monotonic() + deadline_s
    while True:
        done = subprocess.run([*argv, f"tcp://127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the sender could not deliver: {done.stderr}")
        time.sleep(0.2)


def test_serve_keeps_a_stream_open_across_two_senders(sent_video: media.CutVideo, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    lines = [
        'watch = ["in"]',
        'output = "out"',
        f'streams = ["tcp://127.0.0.1:{port}?listen=1"]',
        'metrics_address = ""',
        "drain_timeout_s = 5.0",  # the next session (listening) is in flight at SIGTERM
        "stream_retry_s = 0.2",
        'set = ["frames.enabled=false", "spans.min_length_s=1.0"]',  # 2.5 s scenes, 0.5 s crop each side
    ]
    (tmp_path / "serve.toml").write_text("\n".join(lines) + "\n")
    with running(["serve", "--config", "serve.toml"], tmp_path, tmp_path / "serve.log") as daemon:
        folder = out / "processed_videos" / "streams"
        for count in (1, 2):
            send(sent_video.path, port)
            wait_until(lambda n=count: len(list(folder.rglob("*.json"))) >= n, f"record {count}", daemon, 60)
        status, _ = daemon.stop(signal.SIGTERM)
    assert status == 0, daemon.stderr
    records = sorted(folder.rglob("*.json"))
    assert len(records) == 2
    sources = [json.loads(path.read_text())["video"] for path in records]
    assert all(source.startswith(session_prefix(f"tcp://127.0.0.1:{port}?listen=1")) for source in sources)
    clip_sources = {json.loads(meta.read_text())["source_video"] for meta in (out / "metas" / "v0").glob("*.json")}
    assert clip_sources == set(sources)  # clips from both sessions


def test_serve_config_streams_without_folders_and_their_decoders(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('output = "out"\nstreams = ["tcp://127.0.0.1:9000?listen=1", "srt://127.0.0.1:9001"]\n')
    config = load_serve_config(path)
    assert config.watch == []
    default = ServeConfig(watch=["in"], output="out").pipeline_config()
    assert config.pipeline_config().decode.max_videos == default.decode.max_videos + 2  # a decoder per stream
    path.write_text('output = "out"\n')
    with pytest.raises(ConfigError, match="at least one folder"):
        load_serve_config(path)
    path.write_text('output = "out"\nstreams = ["tcp://127.0.0.1:9000"]\n[ray]\naddress = "local"\n')
    with pytest.raises(ConfigError, match="not with a \\[ray\\] table"):
        load_serve_config(path)
