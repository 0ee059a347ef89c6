"""Secrets in source URLs, as users give them on the command line: a stream key, a query token, a
password. Each is used to read the source and is never printed, nor written into a folder name or a
record. Real ffmpeg senders and servers on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import media
import pytest
from live_senders import HeldSender, free_port, wait_bound
from s3server import RangeHandler, http_file_server

import streamclip
from streamclip.config import load_config
from streamclip.contract.types import VideoDone
from streamclip.storage import proxy, s3

STREAM_KEY = "sk_live_4f9a1c2e7b3d"
PASSWORD = "pa55 w0rd:with@odd/chars"
STRIDE = ["spans.mode='fixed_stride'", "spans.clip_len_s=1.0", "spans.clip_stride_s=1.0", "spans.min_clip_length_s=0.5"]
FAST = ["--set", "spans.min_length_s=1.0", "--set", "spans.crop_s=0.2", "--set", "live.segment_s=0.5"]


def split(args: list[str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "streamclip", "split", *args, "--events", "jsonl", "--no-progress", *FAST]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)


def assert_nowhere(secret: str, done: subprocess.CompletedProcess[str], out: Path) -> None:
    """Not printed, not in a name under OUT, not in a record or meta."""
    assert secret not in done.stdout
    assert secret not in done.stderr
    for path in out.rglob("*"):
        assert secret not in str(path.relative_to(out)), path
        if path.suffix == ".json":
            assert secret not in path.read_text(), path


@pytest.fixture(scope="module")
def stream_media(tmp_path_factory: pytest.TempPathFactory) -> media.CutVideo:
    folder = tmp_path_factory.mktemp("secret-media")
    scenes = [("testsrc2", 1.6), ("smptebars", 1.6)]
    return media.make_cut_video(folder / "s.ts", scenes=scenes, audio=True, extra_out_args=["-g", "12", "-f", "mpegts"])


async def test_an_rtmp_stream_key_is_used_but_never_shown_or_written(
    stream_media: media.CutVideo, tmp_path: Path
) -> None:
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live2/{STREAM_KEY}"
    sender = HeldSender(stream_media.path, ["-f", "flv", "-listen", "1", url])  # an RTMP server, as OBS feeds one
    await sender.start()
    try:
        feeding = asyncio.create_task(sender.feed_all_and_finish())  # it listens once it has read a start
        await wait_bound(port)
        done = await asyncio.to_thread(split, [url, "-o", str(tmp_path / "out")])
        await feeding
    finally:
        await sender.kill()
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert sum(e["event"] == "clip" for e in events) >= 1  # the key was used to read the stream
    assert events[-1]["source"].startswith(f"rtmp://127.0.0.1:{port}/live2/REDACTED#stream=")
    assert_nowhere(STREAM_KEY, done, tmp_path / "out")


def test_an_rtsp_query_secret_is_never_shown_or_written(tmp_path: Path) -> None:
    """The source is refused (nothing listens): the failure, its record and its folder are still made."""
    url = f"rtsp://127.0.0.1:{free_port()}/s?auth=SECRET77x&timeout=5000000"
    done = split([url, "-o", str(tmp_path / "out")])
    assert done.returncode == 1
    assert "FAILED rtsp://127.0.0.1:" in done.stderr
    assert "auth=REDACTED" in done.stderr
    assert "timeout=5000000" in done.stderr  # a known harmless value is kept
    assert list((tmp_path / "out" / "processed_videos").rglob("*.json"))
    assert_nowhere("SECRET77x", done, tmp_path / "out")


def test_two_stream_keys_of_one_application_are_two_sources(tmp_path: Path) -> None:
    port = free_port()
    urls = [f"rtmp://127.0.0.1:{port}/live2/{key}" for key in ("keyone11", "keytwo22")]
    done = split([*urls, "-o", str(tmp_path / "out")])
    failed = [json.loads(line) for line in done.stdout.splitlines() if '"video_failed"' in line]
    assert len({f["source"].split("#session=")[0] for f in failed}) == 2
    assert len(list((tmp_path / "out" / "processed_videos" / "streams").iterdir())) == 2
    for key in ("keyone11", "keytwo22"):
        assert_nowhere(key, done, tmp_path / "out")


class _BasicAuthHandler(RangeHandler):
    """A file server that answers only to user:PASSWORD (401 with a Basic challenge otherwise)."""

    def send_head(self):  # type: ignore[no-untyped-def]
        expected = "Basic " + base64.b64encode(f"user:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="videos"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return super().send_head()


def test_an_http_source_with_user_and_password_is_read_and_the_password_never_shown(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    video = media.make_cut_video(tmp_path / "media" / "v.mp4", scenes=[("testsrc2", 2.0), ("smptebars", 2.0)])
    quoted = PASSWORD.replace("%", "%25").replace(" ", "%20").replace(":", "%3A").replace("@", "%40")
    quoted = quoted.replace("/", "%2F")
    stride = [arg for setting in STRIDE for arg in ("--set", setting)]
    with http_file_server(video.path.parent, _BasicAuthHandler) as (base, _):
        port = urlsplit(base).port
        done = split([f"http://user:{quoted}@127.0.0.1:{port}/v.mp4", "-o", str(tmp_path / "out"), *stride])
        wrong = split([f"http://user:wrong-{quoted}@127.0.0.1:{port}/v.mp4", "-o", str(tmp_path / "wrong"), *stride])
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert sum(e["event"] == "clip" and not e["errors"] for e in events) >= 2
    assert events[-1]["source"] == f"http://127.0.0.1:{port}/v.mp4"
    assert wrong.returncode == 1
    assert "401" in wrong.stderr
    assert "[permission]" in wrong.stderr
    for secret in (PASSWORD, quoted, "pa55"):
        assert_nowhere(secret, done, tmp_path / "out")
        assert_nowhere(secret, wrong, tmp_path / "wrong")


# ---------------------------------------------------------------------------------------------
# What other local users can read: every child's command line (/proc/PID/cmdline)


def argv_logging_tools(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-ins for ffmpeg and ffprobe that log their command line, then run the real tools."""
    log = folder / "argv.log"
    folder.mkdir(exist_ok=True)
    for name in ("ffmpeg", "ffprobe"):
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(log))}\nexec {shutil.which(name)} "$@"\n')
        script.chmod(0o755)
        monkeypatch.setenv(f"STREAMCLIP_{name.upper()}", str(script))
    return log


async def test_no_command_line_carries_the_password_and_the_proxy_token_dies_with_its_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "media").mkdir()
    video = media.make_cut_video(tmp_path / "media" / "v.mp4", scenes=[("testsrc2", 2.0), ("smptebars", 2.0)])
    log = argv_logging_tools(tmp_path / "bin", monkeypatch)
    with http_file_server(video.path.parent, _BasicAuthHandler) as (base, _):
        url = base.replace("http://", f"http://user:{quote(PASSWORD, safe='')}@") + "/v.mp4"
        events = await streamclip.split([url], tmp_path / "out", load_config("default", STRIDE))
        assert isinstance(events[-1], VideoDone), events[-1]
        assert events[-1].num_clips >= 3
        argv = log.read_text()
        for secret in (PASSWORD, quote(PASSWORD, safe=""), "pa55"):
            assert secret not in argv
        proxied = re.findall(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]+/v\.mp4", argv)
        assert len(proxied) >= 2  # the probe and every transcode read through the proxy
        assert proxy.granted() == 0  # each child's token was revoked when it exited
        with pytest.raises(urllib.error.HTTPError, match="404"):
            await asyncio.to_thread(urllib.request.urlopen, proxied[0], timeout=10)


def test_no_command_line_carries_a_presigned_url_or_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An `s3://` source: ffprobe and every transcode read it through the loopback proxy, which
    presigns each request itself (for `storage.presign_expiry_s`, a minute): no signature, access
    key or secret on a command line, and no token left once the children are gone."""
    import s3server
    from test_object_storage import bucket

    obstore = pytest.importorskip("obstore", reason="the [s3] extra (obstore) is not installed")
    try:
        server = s3server.start_s3_server(tmp_path / "seaweedfs", ["media"])
    except (FileNotFoundError, PermissionError, OSError) as exc:
        pytest.skip(f"the S3 test server (weed mini) cannot run here: {exc}")
    try:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        (tmp_path / "media").mkdir()
        video = media.make_cut_video(tmp_path / "media" / "v.mp4", scenes=[("testsrc2", 2.0), ("smptebars", 2.0)])
        obstore.put(bucket(server, "media"), "in/v.mp4", video.path)
        log = argv_logging_tools(tmp_path / "bin", monkeypatch)
        s3.store.cache_clear()
        config = load_config("default", STRIDE)
        events = asyncio.run(streamclip.split(["s3://media/in/v.mp4"], tmp_path / "out", config))
        s3.store.cache_clear()
    finally:
        server.stop()
    assert isinstance(events[-1], VideoDone), events[-1]
    assert events[-1].num_clips >= 3
    argv = log.read_text()
    assert len(re.findall(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]+/v\.mp4", argv)) >= 2
    for secret in ("X-Amz-Signature", "X-Amz-Credential", s3server.ACCESS_KEY, s3server.SECRET_KEY):
        assert secret not in argv
    assert proxy.granted() == 0
    assert load_config("default").storage.presign_expiry_s <= 300
