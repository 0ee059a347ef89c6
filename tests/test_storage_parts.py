"""The parts of streamclip.storage that need no S3 server: URLs, ids without secrets, the AWS
profile files, error messages, an HTTP server that serves a stream rather than a file."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamclip.config import StorageConfig
from streamclip.errors import FFmpegError, Reason, SourceError
from streamclip.ffmpeg.probe import probe
from streamclip.ingest.config import ServeConfig
from streamclip.storage import listing, remote, s3
from streamclip.storage.outputs import S3Output

SIGNED = (
    "http://127.0.0.1:9/media/a.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261203"
    "&X-Amz-Date=20261203T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef42"
)


def test_an_ffmpeg_error_never_carries_a_signed_url() -> None:
    error = FFmpegError(["ffmpeg", "-i", SIGNED], 1, f"{SIGNED}: Server returned 403 Forbidden (access denied)")
    for text in (str(error), " ".join(error.argv), error.stderr_tail):
        assert "deadbeef42" not in text
        assert "AKIDEXAMPLE" not in text
    assert "X-Amz-Signature=REDACTED: Server returned 403 Forbidden" in str(error)


def test_a_remote_source_id_has_no_secret_but_ffmpeg_gets_the_real_url() -> None:
    given = "https://user:pw@example.test/v/clip.mp4?token=s3cr3t&part=2"
    source = remote.source_id(given)
    # `part` is not known to be harmless: hidden, and a hash tells part=2 from part=3 apart
    assert source.startswith("https://example.test/v/clip.mp4?token=REDACTED&part=REDACTED#id=")
    assert remote.ffmpeg_url(source) == given
    assert source != remote.source_id(given.replace("part=2", "part=3"))
    again = given.replace("s3cr3t", "signed-again").replace("pw@", "other@")
    assert source == remote.source_id(again)  # signed again: the same object, the same id
    assert remote.ffmpeg_url(source) == again  # read with the newest secrets
    assert remote.default_rel(source) == "clip.mp4"
    plain = "https://user:pw@example.test/v/clip.mp4?token=s3cr3t"
    assert remote.source_id(plain) == "https://example.test/v/clip.mp4?token=REDACTED"  # as before
    assert remote.source_id("s3://bucket/a/b.mp4") == "s3://bucket/a/b.mp4"


def test_only_complete_remote_files_are_remote_sources() -> None:
    assert remote.is_remote("s3://bucket/a.mp4")
    assert remote.is_remote("https://example.test/a.mp4?sig=1")
    for other in ("https://example.test/live.m3u8", "srt://127.0.0.1:9000", "/data/a.mp4", "-", "weird://x"):
        assert not remote.is_remote(other)


def test_s3_urls() -> None:
    assert s3.parse("s3://bucket/a/b.mp4") == s3.S3Url("bucket", "a/b.mp4")
    assert s3.S3Url("bucket", "out").child("clips/x.mp4").url == "s3://bucket/out/clips/x.mp4"
    assert s3.S3Url("bucket", "").child("clips/x.mp4").url == "s3://bucket/clips/x.mp4"
    for bad in ("s3://", "s3://key:secret@bucket/a.mp4", "s3://bucket/a.mp4?X-Amz-Signature=1"):
        with pytest.raises(ValueError, match="expected s3://bucket/key") as info:
            s3.parse(bad)
        assert "secret" not in str(info.value)
        assert "X-Amz-Signature=1" not in str(info.value)


def test_a_profile_is_read_when_the_environment_has_no_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "credentials").write_text("[media]\naws_access_key_id = AKPROFILE\naws_secret_access_key = SKPROFILE\n")
    (tmp_path / "config").write_text("[profile media]\nregion = eu-west-3\nendpoint_url = http://127.0.0.1:9000\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "media")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    config, endpoint = s3._client_config()
    assert (config["access_key_id"], config["secret_access_key"]) == ("AKPROFILE", "SKPROFILE")
    assert (config["region"], endpoint) == ("eu-west-3", "http://127.0.0.1:9000")

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKENV")  # the environment comes first (obstore reads it)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    config, _ = s3._client_config()
    assert "access_key_id" not in config
    assert config["region"] == "us-west-2"

    s3.configure(StorageConfig(region="ap-south-1", endpoint_url="http://127.0.0.1:9100"))  # config keys first
    try:
        config, endpoint = s3._client_config()
        assert (config["region"], endpoint) == ("ap-south-1", "http://127.0.0.1:9100")
    finally:
        s3.configure(StorageConfig())


@contextlib.contextmanager
def plain_http_server(folder: Path) -> Iterator[str]:
    """http.server as it is: a length, but no `Accept-Ranges`."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_http_server_without_byte_ranges_is_refused_as_a_file_and_a_404_is_missing(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"\x00" * 64)
    with plain_http_server(tmp_path) as base:
        with pytest.raises(SourceError, match="no length or no byte ranges: a stream") as info:
            asyncio.run(probe(f"{base}/a.mp4?sig=abc123"))
        assert info.value.kind is Reason.NOT_A_VIDEO
        assert "abc123" not in str(info.value)
        with pytest.raises(SourceError, match="404") as missing:
            asyncio.run(probe(f"{base}/none.mp4"))
        assert missing.value.kind is Reason.MISSING


def test_serve_to_an_s3_output_needs_a_local_ledger() -> None:
    with pytest.raises(ValueError, match="set ledger to a local file"):
        ServeConfig(watch=["s3://media/in/"], output="s3://out/clips")
    assert ServeConfig(watch=["s3://media/in/"], output="s3://out/clips", ledger="/var/lib/x.sqlite").ledger


@pytest.mark.parametrize(
    ("key", "wanted"),
    [
        ("in/a.mp4", True),
        ("in/sub dir/ü.mp4", True),
        ("in/a//b.mp4", False),
        ("in/./c.mp4", False),
        ("in/../d.mp4", False),
        ("/in/e.mp4", False),  # the client drops the leading "/": it would name another key
        ("in/f\x01.mp4", False),
    ],
)
def test_which_keys_the_s3_client_can_address(key: str, wanted: bool) -> None:
    assert listing.addressable(key) is wanted


def test_an_s3_record_name_is_free_only_when_its_record_is_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that cannot be read (here: no server) is not taken for a free name: the video fails
    (OSError) rather than write over another source's record."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens there once the socket is closed
    for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed}", "AWS_ACCESS_KEY_ID": "AK",
                        "AWS_SECRET_ACCESS_KEY": "SK"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    s3.configure(StorageConfig(retry_timeout_s=0.5, request_timeout_s=2.0))
    s3.store.cache_clear()
    try:
        with pytest.raises(OSError, match=re.escape("s3://bucket/out/processed_videos/a.mp4.json")):
            S3Output("s3://bucket/out").record_name("a.mp4", "s3://media/a.mp4")
    finally:
        s3.configure(StorageConfig())
        s3.store.cache_clear()
