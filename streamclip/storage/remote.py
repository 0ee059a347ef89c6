"""Remote sources: `s3://bucket/key`, `s3://bucket/prefix/` and `http(s)://…/file.mp4`.

Nothing is downloaded whole. ffprobe, the decoder and each clip's transcoder open the object
themselves over HTTP(S) with byte ranges (ffmpeg's `http` protocol seeks with `Range:`): an `s3://`
object, or an `http(s)://` file whose URL holds a password or a token, through the loopback proxy
(`storage.proxy`: no secret on a command line, each request presigned or authenticated there); a
plain `http(s)://` file through its own URL. Before probing, one HEAD (size, and whether the server
gives byte ranges) and one 12-byte range read (the first box, for "file incomplete" messages).

Identity: a source's id (`VideoJob.source`, part of every clip id, shown in metas, events and
errors) is its URL without secrets: `s3://bucket/key` as given, or the HTTP(S) URL as `sources.redact`
shows it, with `#id=<hash>` when that hid more than user:password and signature parameters (so
two files whose names or query values were hidden never share an id, and a URL signed again keeps
its id). The URL with its secrets is kept in this process only (`_readable`), for the proxy;
presigned URLs are made here and in the proxy, and never leave this process. A `user:password@`
in an HTTP(S) URL is sent as Basic authentication, to that host only (urllib does not take it
from the URL).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from streamclip.errors import Reason, SourceError
from streamclip.ffmpeg.children import single_file_demuxers
from streamclip.sources import (
    HTTP_SCHEMES,
    REDACTED,
    SourceKind,
    classify,
    redact,
    scrub,
    url_key,
    url_scheme,
    without_credentials,
)
from streamclip.storage import proxy, s3
from streamclip.storage.listing import list_prefix

HTTP_TIMEOUT_S = 30.0
READ_TIMEOUT_US = str(30_000_000)  # ffmpeg's -rw_timeout: a server silent this long fails the read
PROTOCOLS = "http,https,tcp,tls"
_readable: dict[str, str] = {}  # public id -> the URL with its secrets (HTTP(S) sources only)


def is_remote(source: str) -> bool:
    """A complete remote file: `s3://…` or an `http(s)://` URL that is not a live playlist
    (`sources.classify`: `.m3u8` URLs and other stream schemes are live sources, not handled here)."""
    if url_scheme(source) not in {"s3", *HTTP_SCHEMES}:
        return False
    return classify(source) is SourceKind.REMOTE_FILE


def public_source(given: str) -> str:
    """The id of a remote source (see the module's docstring); remembers its secrets for reading."""
    if s3.is_s3(given):
        return s3.parse(given).url
    stable, shown = without_credentials(given), redact(given)
    public = shown if shown == stable else f"{shown}#id={url_key(stable)}"
    if public != given:
        _readable[public] = given
    return public


def ffmpeg_url(source: str) -> str:
    """The real URL of `source`, secrets included (never for a child's argv): presigned now for
    `s3://`, the given URL for HTTP(S)."""
    if s3.is_s3(source):
        import obstore

        where = s3.parse(source)
        try:
            return obstore.sign(s3.store(where.bucket), "GET", where.key, s3.presign_expiry())
        except Exception as exc:
            raise s3.storage_error(exc, source, otherwise=Reason.PERMISSION) from None
    return _readable.get(source, source)


def ffmpeg_input(source: str) -> list[str]:
    """`-i <url>` for a remote file: HTTP(S) protocols only, single-file demuxers only (a playlist
    named like a video is refused, as for local files), and a read timeout. The URL carries no
    secret: an object, or a file read with a password or a token, goes through the loopback proxy
    (`storage.proxy`), which signs or authenticates each request itself."""
    limits = ["-format_whitelist", ",".join(sorted(single_file_demuxers()))]  # fails closed
    return ["-protocol_whitelist", PROTOCOLS, *limits, "-rw_timeout", READ_TIMEOUT_US, "-i", _child_url(source)]


def _child_url(source: str) -> str:
    name = PurePosixPath(urlsplit(source if s3.is_s3(source) else redact(source)).path).name
    if s3.is_s3(source):
        ffmpeg_url(source)  # cannot be signed (no credentials): fails now, naming the source
        return proxy.grant(lambda: (ffmpeg_url(source), {}), name)
    given = _readable.get(source)
    if given is None:
        return source  # nothing secret in it
    return proxy.grant(lambda: proxy.basic_auth(given), name)


def check(given: str) -> tuple[str, int, bytes]:
    """Id, size and first 12 bytes of a remote file, or SourceError saying why it cannot be read
    (naming the id: `given` may carry secrets when probe() is called directly)."""
    try:
        source = public_source(given)
    except ValueError as exc:
        raise SourceError(redact(given), str(exc), Reason.NOT_A_VIDEO) from None
    if s3.is_s3(source):
        return _check_object(source)
    return _check_http(source)


def version(source: str) -> str:
    """What changes when a remote file does: '<size>:<ETag>' of an object (one HEAD), '<size>' of an
    HTTP(S) file; SourceError when it cannot be read."""
    if not s3.is_s3(source):
        return str(check(source)[1])
    import obstore

    where = s3.parse(source)
    try:
        head = obstore.head(s3.store(where.bucket), where.key)
    except Exception as exc:
        error = s3.storage_error(exc, source, otherwise=Reason.OTHER)
        raise SourceError(source, error.reason, error.kind) from None
    return f"{head['size']}:{head['e_tag'] or ''}"


def _check_object(source: str) -> tuple[str, int, bytes]:
    import obstore

    where = s3.parse(source)
    if not where.key or where.key.endswith("/"):
        raise SourceError(
            source, "a prefix, not an object (split takes s3://bucket/prefix/ as a folder)", Reason.NOT_A_VIDEO
        )
    client = s3.store(where.bucket)
    try:
        size = int(obstore.head(client, where.key)["size"])
        header = bytes(obstore.get_range(client, where.key, start=0, length=min(12, size))) if size else b""
    except Exception as exc:
        error = s3.storage_error(exc, source, otherwise=Reason.OTHER)
        raise SourceError(source, error.reason, error.kind) from None
    if size == 0:
        raise SourceError(source, "empty object (0 bytes)", Reason.EMPTY)
    return source, size, header


def _check_http(source: str) -> tuple[str, int, bytes]:
    """A HEAD: the length and byte ranges ffmpeg needs to seek. A server that gives neither is
    serving a stream, not a file: refused here, with a reason (live streams are another source kind)."""
    request = _http_request(ffmpeg_url(source), method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
            length, ranges = reply.headers.get("Content-Length"), reply.headers.get("Accept-Ranges", "")
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the reply's socket
        kind = {404: Reason.MISSING, 410: Reason.MISSING, 401: Reason.PERMISSION, 403: Reason.PERMISSION}
        raise SourceError(
            source, f"the server answered {exc.code} {exc.reason}", kind.get(exc.code, Reason.OTHER)
        ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(source, f"cannot reach the server: {scrub(str(reason))}", Reason.OTHER) from None
    if length is None or ranges.strip().lower() != "bytes":
        raise SourceError(
            source,
            "the server gives no length or no byte ranges: a stream, not a file (not supported as a file source)",
            Reason.NOT_A_VIDEO,
        )
    if int(length) == 0:
        raise SourceError(source, "empty file (0 bytes)", Reason.EMPTY)
    return source, int(length), _http_header(source)


def _http_header(source: str) -> bytes:
    request = _http_request(ffmpeg_url(source), method="GET", headers={"Range": "bytes=0-11"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
            return bytes(reply.read(12))
    except (OSError, ValueError):
        return b""  # only used to word a failure better


def _http_request(url: str, *, method: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    """A request for `url`; its `user:password@`, if any, as a Basic `Authorization` header (sent
    to that host only, not on to another one a redirect names)."""
    plain, auth = proxy.basic_auth(url)
    request = urllib.request.Request(plain, method=method, headers=headers or {})
    for name, value in auth.items():
        request.add_unredirected_header(name, value)
    return request


# ---------------------------------------------------------------------------------------------
# Prefixes


@dataclass(frozen=True)
class PrefixVideos:
    videos: list[tuple[str, str, int, str]]  # (url, name relative to the prefix, size, etag), by name
    unaddressable: list[str]  # URLs of video names the S3 client cannot address (`storage.listing`): skipped


def list_videos(prefix_url: str, exclude: str | None = None) -> PrefixVideos:
    """Every video object under `s3://bucket/prefix/` (by extension; hidden names skipped, and
    everything under `exclude`, the run's own `s3://` output), and the video names under it that
    the S3 client cannot address (one such key never stops the others); SourceError when the prefix
    cannot be listed."""
    from streamclip.inputs import VIDEO_EXTENSIONS

    where = s3.parse(prefix_url)
    prefix = where.key if not where.key or where.key.endswith("/") else where.key + "/"
    try:
        listing = list_prefix(where.bucket, prefix)
    except s3.StorageError as error:
        raise SourceError(prefix_url, error.reason, error.kind) from None
    found: list[tuple[str, str, int, str]] = []
    for entry in listing.objects:
        rel = entry.key[len(prefix) :]
        name = PurePosixPath(rel)
        url = s3.S3Url(where.bucket, entry.key).url
        if _is_output(url, exclude) or any(part.startswith(".") for part in name.parts):
            continue
        if name.suffix.lower() in VIDEO_EXTENSIONS:
            found.append((url, rel, entry.size, entry.etag))
    odd = [
        s3.S3Url(where.bucket, key).url
        for key in listing.unaddressable
        if PurePosixPath(key).suffix.lower() in VIDEO_EXTENSIONS and not key.rsplit("/", 1)[-1].startswith(".")
    ]
    return PrefixVideos(sorted(found, key=lambda item: item[1]), odd)


UNADDRESSABLE = "the S3 client cannot address this key (an empty, '.' or '..' part): skipped; rename the object"


@dataclass(frozen=True)
class RemoteInput:
    path: str  # the source as given (its secrets are needed to read it)
    rel: str  # its record name: the key relative to the prefix, or the URL's file name


def _is_output(url: str, output: str | None) -> bool:
    return output is not None and url.startswith(output.rstrip("/") + "/")


def expand_remote(given: list[str], exclude: str | None = None) -> tuple[list[RemoteInput], list[str]]:
    """Remote inputs as videos: an `s3://bucket/prefix/` (or a bucket) is every video under it, like
    a folder (but not under `exclude`, the run's `s3://` output: its clips are not sources); any
    other URL is one video. Also the problems found (a prefix that cannot be listed)."""
    videos: list[RemoteInput] = []
    problems: list[str] = []
    for text in given:
        if s3.is_s3(text) and _is_prefix(text):
            try:
                listed = list_videos(text, exclude)
            except SourceError as exc:
                problems.append(str(exc))
                continue
            if not listed.videos and not listed.unaddressable:
                problems.append(f"{text}: no video objects under this prefix")
            videos += [RemoteInput(url, rel) for url, rel, _size, _etag in listed.videos]
            problems += [f"{url}: {UNADDRESSABLE}" for url in listed.unaddressable]
        else:
            videos.append(RemoteInput(text, _file_name(text)))
    return videos, problems


def _is_prefix(text: str) -> bool:
    key = s3.parse(text).key
    return not key or key.endswith("/")


def source_id(given: str) -> str:
    """A submitted source's id: a remote one's `public_source`, a local path made absolute."""
    return public_source(given) if is_remote(given) else os.path.abspath(given)


def default_rel(source: str) -> str:
    """The record name of a source submitted without one: its file (or object) name."""
    return _file_name(source) if is_remote(source) else os.path.basename(source)


def _file_name(url: str) -> str:
    """The name of the file a URL reads, as `redact` shows it; a hash of the URL (and its
    extension) where that name was hidden (a token), so two such files get two records."""
    name = PurePosixPath(urlsplit(url if s3.is_s3(url) else redact(url)).path).name or "index"
    if REDACTED not in name:
        return name
    return url_key(without_credentials(url)) + PurePosixPath(name).suffix
