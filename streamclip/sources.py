"""What kind of source a string names, and how to show a URL without its secrets.

Every entry point (`split`, `submit`, `watch`/`serve`, Ray) classifies what it is given here, so a
source is read the same way whichever door it came in by:

- `FILE`: a complete local file (today's path: probed, decoded, and seeked in by the transcoder);
- `STDIN`: "-", a pipe, read once;
- `STREAM`: a live network stream ffmpeg reads (srt, rtmp, rtsp, udp, tcp, rtp, and HTTP(S) HLS
  playlists), read once;
- `REMOTE_FILE`: a complete object elsewhere (`s3://bucket/key`, an `http(s)://` file), seekable.

The split is by syntax only; an entry point may refine it (e.g. an HTTP URL whose server gives no
length or ranges is a stream, not a file).
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

STDIN = "-"
STREAM_SCHEMES = frozenset({"srt", "rtmp", "rtmps", "rtmpt", "rtsp", "rtsps", "udp", "tcp", "rtp"})
HTTP_SCHEMES = frozenset({"http", "https"})
OBJECT_SCHEMES = frozenset({"s3"})
PLAYLIST_SUFFIXES = (".m3u8", ".m3u")
REDACTED = "REDACTED"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Query parameters that are credentials or signatures (AWS SigV2/V4 presigning, Azure SAS, GCS, tokens).
_SECRET_QUERY = re.compile(
    r"^(x-amz-(signature|credential|security-token)|signature|sig|awsaccesskeyid|x-goog-(signature|credential)"
    r"|token|access_token|passphrase|password|passwd|pass|secret|key|api_key|apikey|streamid|se|sp|sv)$",
    re.IGNORECASE,
)


class SourceKind(enum.StrEnum):
    FILE = "file"
    STDIN = "stdin"
    STREAM = "stream"
    REMOTE_FILE = "remote_file"


def url_scheme(source: str) -> str | None:
    """The lower-case scheme of a URL (`srt://…` → "srt"), or None for a path (`file://` is a path)."""
    match = _URL.match(source)
    if match is None or match.group(1).lower() == "file":
        return None
    return match.group(1).lower()


def classify(source: str | os.PathLike[str]) -> SourceKind:
    """The kind of source `source` names, by its syntax; raises `ValueError` for an unknown scheme."""
    text = os.fspath(source)
    if text == STDIN:
        return SourceKind.STDIN
    scheme = url_scheme(text)
    if scheme is None:
        return SourceKind.FILE
    if scheme in STREAM_SCHEMES:
        return SourceKind.STREAM
    if scheme in HTTP_SCHEMES:
        path = urlsplit(text).path.lower()
        return SourceKind.STREAM if path.endswith(PLAYLIST_SUFFIXES) else SourceKind.REMOTE_FILE
    if scheme in OBJECT_SCHEMES:
        return SourceKind.REMOTE_FILE
    known = ", ".join(sorted(STREAM_SCHEMES | HTTP_SCHEMES | OBJECT_SCHEMES))
    raise ValueError(f"{redact(text)}: unsupported source scheme {scheme!r} (supported: {known}, or a local path)")


def local_path(source: str) -> str:
    """The absolute path a `FILE` source names (`file://` URLs and relative paths included)."""
    if source.lower().startswith("file://"):
        source = urlsplit(source).path
    return os.path.abspath(source)


def redact(source: str) -> str:
    """`source` safe to log, store in a meta or show in an error: no user:password, no secret query
    parameters (signatures, tokens, SRT passphrases). Paths are returned unchanged."""
    if url_scheme(source) is None:
        return source
    try:
        parts = urlsplit(source)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # an unparseable URL: keep only its scheme
        return f"{url_scheme(source)}://{REDACTED}"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = [(k, REDACTED if _SECRET_QUERY.match(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    clean = SplitResult(parts.scheme, netloc, parts.path, urlencode(query, safe="/:"), "")
    return urlunsplit(clean)


_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def scrub(text: str) -> str:
    """`text` (an error message, ffmpeg's stderr, an argv) with every URL in it `redact`ed."""
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    url_part = url.rstrip(".,:;)")  # "…?sig=x: Server returned 403": the colon is the message's
    return redact(url_part) + url[len(url_part) :]


def session_source(source: str, started: dt.datetime) -> str:
    """The source id of one session of a stream or pipe: its URL without secrets (or "stdin") and the
    UTC time the session started, so a reconnect or tomorrow's session never shares a clip id with
    an earlier one. It is what `VideoJob.source`, events and metas carry for such a source."""
    name = "stdin" if source == STDIN else redact(source)
    return f"{name}#session={_utc_stamp(started)}"


def session_rel(source: str, started: dt.datetime) -> str:
    """A record name (OUT/processed_videos/<rel>.json) for one session: a path-safe form of the host
    and path, then the session's start (`streams/127.0.0.1_9000/live/20261203T114002.123456Z`)."""
    if source == STDIN:
        where = "stdin"
    else:
        parts = urlsplit(redact(source))
        where = "streams/" + re.sub(r"[^A-Za-z0-9._-]+", "_", f"{parts.netloc}{parts.path}").strip("_.")
    return f"{where}/{_utc_stamp(started)}"


def _utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
