"""Listing an `s3://bucket/prefix/`, whatever keys it holds.

An S3 key is any string. Rust's `object_store` (under obstore) addresses objects by paths, and
refuses a whole listing when one key in it is not a path it can make: an empty segment
(`a//b.mp4`), a `.` or `..` segment (`./c.mp4`), a control character. Such an object cannot be
read through the client either, but one of them would otherwise stop every listing of its prefix,
for good. So a prefix is listed through obstore and, when obstore refuses a key, listed again here
with plain ListObjectsV2 requests, signed (AWS Signature V4) with the static credentials, endpoint
and region the client was given (`s3.signing_settings`): the keys the client cannot address are
returned apart, the others as usual. Without static credentials (an instance role, web identity)
the listing fails as before, naming the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from streamclip.errors import Reason
from streamclip.storage import s3

_UNRESERVED = "-_.~"  # with letters and digits: what SigV4 leaves unencoded
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Listed:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Listing:
    objects: list[Listed]  # the keys the client can read, in the server's order
    unaddressable: list[str]  # the keys it cannot (skipped)


def list_prefix(bucket: str, prefix: str) -> Listing:
    """Every object under `prefix` of `bucket` (blocking); StorageError when it cannot be listed."""
    import obstore
    from obstore.exceptions import InvalidPathError

    try:
        found = [
            Listed(entry["path"], int(entry["size"]), entry["e_tag"] or "")
            for batch in obstore.list(s3.store(bucket), prefix=prefix or None)
            for entry in batch
        ]
    except InvalidPathError as refused:
        return _signed_listing(bucket, prefix, refused)
    except Exception as exc:
        raise s3.storage_error(exc, s3.S3Url(bucket, prefix).url, otherwise=Reason.OTHER) from None
    return Listing(found, [])


def addressable(key: str) -> bool:
    """Whether the S3 client can name `key` (object_store's path rules, with no leading or trailing
    `/`, which it would drop and so name another key)."""
    return all(
        part not in ("", ".", "..") and not any(ord(c) < 32 or ord(c) == 127 for c in part) for part in key.split("/")
    )


def _signed_listing(bucket: str, prefix: str, refused: Exception) -> Listing:
    url = s3.S3Url(bucket, prefix).url
    settings = s3.signing_settings()
    if settings is None:
        reason = f"a key the S3 client cannot address stops the listing ({_first_line(refused)}), and there are no "
        reason += "static credentials to list around it with: rename or remove that object"
        raise s3.StorageError(url, reason, Reason.OTHER)
    objects: list[Listed] = []
    odd: list[str] = []
    token = ""
    while True:
        query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
        root = ET.fromstring(_get(bucket, query, settings, url))
        for entry in _children(root, "Contents"):
            key = _text(entry, "Key")
            if addressable(key):
                objects.append(Listed(key, int(_text(entry, "Size") or 0), _text(entry, "ETag")))
            else:
                odd.append(key)
        token = _text(root, "NextContinuationToken")
        if _text(root, "IsTruncated") != "true" or not token:
            return Listing(objects, odd)


def _get(bucket: str, query: dict[str, str], settings: s3.SigningSettings, url: str) -> bytes:
    endpoint = settings.endpoint.rstrip("/") or f"https://{bucket}.s3.{settings.region}.amazonaws.com"
    path = f"/{_quote(bucket)}" if settings.endpoint else "/"
    request = urllib.request.Request(f"{endpoint}{path}?{_canonical_query(query)}")
    for name, value in _signed_headers(settings, urllib.parse.urlsplit(endpoint).netloc, path, query).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=s3.request_timeout_s()) as reply:
            return bytes(reply.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        kind = {403: Reason.PERMISSION, 404: Reason.MISSING}.get(exc.code, Reason.OTHER)
        raise s3.StorageError(url, f"object storage request failed: HTTP {exc.code} {exc.reason}", kind) from None
    except (OSError, ValueError) as exc:
        raise s3.StorageError(
            url, f"object storage request failed: {getattr(exc, 'reason', exc)}", Reason.OTHER
        ) from None


def _signed_headers(settings: s3.SigningSettings, host: str, path: str, query: dict[str, str]) -> dict[str, str]:
    """AWS Signature V4 headers of a GET with no body."""
    now = dt.datetime.now(dt.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": stamp}
    if settings.token:
        headers["x-amz-security-token"] = settings.token
    names = ";".join(sorted(headers))
    lines = [f"{name}:{headers[name]}" for name in sorted(headers)]
    canonical = "\n".join(["GET", path, _canonical_query(query), *lines, "", names, _EMPTY_SHA256])
    scope = f"{day}/{settings.region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{settings.secret_access_key}".encode()
    for part in (day, settings.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    credential = f"{settings.access_key_id}/{scope}"
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={names}, Signature={signature}"
    del headers["host"]  # urllib sends it
    return headers


def _canonical_query(query: dict[str, str]) -> str:
    return "&".join(f"{_quote(name)}={_quote(value)}" for name, value in sorted(query.items()))


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe=_UNRESERVED)


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if child.tag.rsplit("}", 1)[-1] == name]


def _text(element: ET.Element, name: str) -> str:
    found = _children(element, name)
    return (found[0].text or "") if found else ""


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:300]
