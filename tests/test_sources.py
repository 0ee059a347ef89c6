"""Classifying source strings and removing secrets from URLs."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from streamclip.contract.identity import check_rel
from streamclip.sources import (
    SourceKind,
    classify,
    local_path,
    redact,
    session_prefix,
    session_rel,
    session_source,
    url_key,
)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("video.mp4", SourceKind.FILE),
        ("/data/a b/x.ts", SourceKind.FILE),
        ("file:///data/x.mp4", SourceKind.FILE),
        ("-", SourceKind.STDIN),
        ("srt://127.0.0.1:9000?mode=caller", SourceKind.STREAM),
        ("RTMP://host/live/key", SourceKind.STREAM),
        ("rtsp://cam.local/stream1", SourceKind.STREAM),
        ("udp://127.0.0.1:1234", SourceKind.STREAM),
        ("tcp://127.0.0.1:5000", SourceKind.STREAM),
        ("http://127.0.0.1:8000/live/index.m3u8", SourceKind.STREAM),
        ("https://cdn.example/a.M3U8?token=1", SourceKind.STREAM),
        ("https://cdn.example/videos/a.mp4", SourceKind.REMOTE_FILE),
        ("s3://bucket/prefix/a.mp4", SourceKind.REMOTE_FILE),
        ("s3://bucket/prefix/", SourceKind.REMOTE_FILE),
    ],
)
def test_classify(source: str, kind: SourceKind) -> None:
    assert classify(source) is kind


def test_unknown_scheme_is_refused_without_its_secrets() -> None:
    with pytest.raises(ValueError, match="unsupported source scheme 'gopher'") as caught:
        classify("gopher://user:hunter2@host/x")
    assert "hunter2" not in str(caught.value)


def test_local_path() -> None:
    assert local_path("file:///data/x.mp4") == "/data/x.mp4"
    assert local_path("x.mp4") == os.path.abspath("x.mp4")


@pytest.mark.parametrize(
    ("url", "secret", "kept"),
    [
        ("rtmp://user:hunter2@host:1935/live/cam", "hunter2", "rtmp://host:1935/live/REDACTED"),
        ("srt://127.0.0.1:9000?mode=caller&passphrase=hunter2hunter2", "hunter2", "mode=caller"),
        (
            "https://b.s3.amazonaws.com/k.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAXXX%2F2026"
            "&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok",
            "deadbeef",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        ),
        ("http://[::1]:8000/a.m3u8?token=abc123", "abc123", "http://[::1]:8000/a.m3u8"),
    ],
)
def test_redact_removes_credentials_and_signatures(url: str, secret: str, kept: str) -> None:
    shown = redact(url)
    assert secret not in shown
    assert "AKIAXXX" not in shown
    assert "=tok" not in shown
    assert kept in shown


def test_redact_leaves_paths_alone() -> None:
    assert redact("/data/user:pass@x.mp4") == "/data/user:pass@x.mp4"


def test_sessions_of_one_stream_have_distinct_ids_and_safe_record_names() -> None:
    url = "srt://user:hunter2@127.0.0.1:9000?mode=caller&passphrase=longsecret1"
    first = dt.datetime(2026, 12, 3, 11, 40, 2, 123456, tzinfo=dt.UTC)
    later = first + dt.timedelta(seconds=5)
    assert session_source(url, first) != session_source(url, later)
    assert session_source(url, first).endswith("#session=20261203T114002.123456Z")
    rel = session_rel(url, first)
    assert rel == f"streams/127.0.0.1_9000-{url_key(url)}/20261203T114002.123456Z"
    assert check_rel(rel) == rel
    for shown in (session_source(url, first), rel):
        assert "hunter2" not in shown
        assert "longsecret1" not in shown
    assert session_source("-", first).startswith("stdin#session=")
    assert session_rel("-", first) == "stdin/20261203T114002.123456Z"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtmp://host/live2/STREAMKEY", "rtmp://host/live2/REDACTED"),
        ("rtmps://host:443/app/sub/key?x=1", "rtmps://host:443/app/REDACTED?x=REDACTED"),
        ("rtmp://host/live2", "rtmp://host/live2"),
        ("rtsp://host/s?auth=SECRET", "rtsp://host/s?auth=REDACTED"),
        ("srt://h:9000?mode=caller&latency=200&streamid=#!::r=live/cam,u=bob", "srt://h:9000?mode=caller&latency=200&streamid=REDACTED"),
        ("https://cdn.example/hls/Zx8Kq2LmP9vR4tYw/index.m3u8", "https://cdn.example/hls/REDACTED/index.m3u8"),
        ("https://cdn.example/v/3f9a1c2e7b3d4e5f60718293a4b5c6d7.mp4", "https://cdn.example/v/REDACTED.mp4"),
        ("https://cdn.example/videos/holiday_video_2023.mp4", "https://cdn.example/videos/holiday_video_2023.mp4"),
        ("https://b.example/k.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAXXX%2F2026&X-Amz-Signature=dead",
         "https://b.example/k.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"),
    ],
)  # fmt: skip
def test_redaction_is_an_allowlist(url: str, shown: str) -> None:
    """Stream keys, query values not known to be harmless and path tokens are replaced."""
    assert redact(url) == shown


def test_urls_shown_alike_have_distinct_session_ids_and_folders() -> None:
    start = dt.datetime(2026, 12, 3, 11, 40, 2, tzinfo=dt.UTC)
    one, two = "rtmp://host/live2/KEYONE", "rtmp://host/live2/KEYTWO"
    assert redact(one) == redact(two)
    assert session_prefix(one) != session_prefix(two)
    assert session_rel(one, start) != session_rel(two, start)
    for url in (one, two):
        for name in (session_source(url, start), session_rel(url, start), url_key(url)):
            assert "KEY" not in name
