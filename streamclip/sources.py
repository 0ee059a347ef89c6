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
import hashlib
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
# Query parameters that are credentials or signatures (AWS SigV2/V4 presigning, Azure SAS, GCS, tokens):
# they never identify what is read, so a source's id leaves them out (`public_id`).
_SECRET_QUERY = re.compile(
    r"^(x-amz-(signature|credential|security-token)|signature|sig|awsaccesskeyid|x-goog-(signature|credential)"
    r"|token|access_token|passphrase|password|passwd|pass|secret|key|api_key|apikey|streamid|se|sp|sv)$",
    re.IGNORECASE,
)
# Query parameters whose values are shown: transport settings of ffmpeg's protocols and the
# public parts of a presigned URL. Every other value is replaced (an allowlist, not a denylist).
HARMLESS_QUERY = frozenset(
    {
        "mode", "latency", "rcvlatency", "peerlatency", "transtype", "pkt_size", "payload_size", "maxbw",
        "inputbw", "oheadbw", "connect_timeout", "timeout", "listen_timeout", "rw_timeout", "tlpktdrop",
        "nakreport", "linger", "conntimeo", "pbkeylen", "messageapi", "smoother", "ipttl", "iptos", "fc",
        "listen", "buffer_size", "recv_buffer_size", "send_buffer_size", "localport", "localaddr", "reuse",
        "reuse_socket", "ttl", "fifo_size", "overrun_nonfatal", "broadcast", "tcp_nodelay", "tcp_mss",
        "x-amz-algorithm", "x-amz-date", "x-amz-expires", "x-amz-signedheaders",
    }
)  # fmt: skip
RTMP_SCHEMES = frozenset({"rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts"})
# A path segment that looks like a token (hex, base64, JWT): 16+ token characters with digits and
# letters, in mixed case or all hex. Replaced like a secret; a plain file name is kept.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_~+=.-]{16,}")
_HEX = re.compile(r"[0-9a-fA-F-]{16,}")


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
    """`source` safe to log, store in a meta or show in an error (paths are returned unchanged).

    An allowlist: no user:password; every query value but those of `HARMLESS_QUERY`, an RTMP(S)
    URL's path after its application (the stream key) and any path segment that looks like a token
    are replaced by REDACTED. What is left is for people to read; ids and names that must tell two
    URLs apart use `url_key`, a hash of the whole URL."""
    parts = _split(source)
    if parts is None:
        return source if url_scheme(source) is None else f"{url_scheme(source)}://{REDACTED}"
    query = [
        (k, v if k.lower() in HARMLESS_QUERY else REDACTED) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(path=_redact_path(parts.scheme.lower(), parts.path), query=_encode(query)))


def without_credentials(source: str) -> str:
    """`source` without user:password and with the values of credential and signature parameters
    replaced: what identifies the object a URL names, whoever signed the URL and whenever."""
    parts = _split(source)
    if parts is None:
        return source if url_scheme(source) is None else f"{url_scheme(source)}://{REDACTED}"
    query = [(k, REDACTED if _SECRET_QUERY.match(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=_encode(query)))


def url_key(source: str) -> str:
    """A short hash of the whole URL, as given: tells apart URLs that `redact` shows alike (two
    stream keys of one RTMP application) without showing what they differ in."""
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _split(source: str) -> SplitResult | None:
    """The URL's parts with the host (and port) only in its netloc; None for a path or a URL
    that does not parse."""
    if url_scheme(source) is None:
        return None
    try:
        parts = urlsplit(source)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return SplitResult(parts.scheme, netloc, parts.path, parts.query, "")


def _encode(query: list[tuple[str, str]]) -> str:
    return urlencode(query, safe="/:")


def _redact_path(scheme: str, path: str) -> str:
    segments = path.split("/")
    if scheme in RTMP_SCHEMES and len(segments) > 2:  # /app/<stream key ...>
        return "/".join([*segments[:2], REDACTED])
    return "/".join(REDACTED + _suffix(seg) if _looks_like_token(seg) else seg for seg in segments)


def _suffix(segment: str) -> str:
    stem, dot, extension = segment.rpartition(".")
    return f".{extension}" if dot and stem and extension.isalnum() and len(extension) <= 5 else ""


def _looks_like_token(segment: str) -> bool:
    stem = segment[: -len(_suffix(segment))] if _suffix(segment) else segment
    if _TOKEN_CHARS.fullmatch(stem) is None or not any(c.isdigit() for c in stem):
        return False
    if not any(c.isalpha() for c in stem):
        return len(stem) >= 24  # a long number
    mixed_case = any(c.isupper() for c in stem) and any(c.islower() for c in stem)
    return mixed_case or _HEX.fullmatch(stem) is not None


_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def scrub(text: str) -> str:
    """`text` (an error message, ffmpeg's stderr, an argv) with every URL in it `redact`ed."""
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    url_part = url.rstrip(".,:;)")  # "…?sig=x: Server returned 403": the colon is the message's
    return redact(url_part) + url[len(url_part) :]


def session_source(source: str, started: dt.datetime) -> str:
    """The source id of one session of a stream or pipe: the URL without secrets (or "stdin"), a
    hash of the whole URL (`url_key`), and the UTC time the session started, so that two streams
    shown alike, a reconnect or tomorrow's session never share a clip id with another. It is what
    `VideoJob.source`, events and metas carry for such a source."""
    return f"{session_prefix(source)}{_utc_stamp(started)}"


def session_prefix(source: str) -> str:
    """What every session id of `source` starts with (`…#stream=<key>#session=`)."""
    if source == STDIN:
        return "stdin#session="
    return f"{redact(source)}#stream={url_key(source)}#session="


def session_rel(source: str, started: dt.datetime) -> str:
    """A record name (OUT/processed_videos/<rel>.json) for one session: the host and port and a hash
    of the whole URL (never its path or query: they may hold a key), then the session's start
    (`streams/127.0.0.1_9000-1f2e3d4c5b6a/20261203T114002.123456Z`)."""
    if source == STDIN:
        where = "stdin"
    else:
        parts = _split(source)
        host = re.sub(r"[^A-Za-z0-9._-]+", "_", parts.netloc if parts is not None else "").strip("_.") or "stream"
        where = f"streams/{host}-{url_key(source)}"
    return f"{where}/{_utc_stamp(started)}"


def _utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
