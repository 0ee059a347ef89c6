"""`s3://bucket/key` URLs and the client that reads and writes them (obstore, the `[s3]` extra).

Why obstore: one 5.6 MB wheel with no Python dependencies (Rust's `object_store` under a thin
binding), sync *and* async calls, multipart uploads and presigned URLs built in, and it releases
the GIL while it works. aiobotocore needs botocore + aiohttp (about 19 MB and a dozen packages) and
is async only; boto3 is sync only. The writer and probe call it from worker threads (`in_thread`).

Credentials and endpoint, first found wins: the pipeline's `[storage]` keys (endpoint, region,
profile; never secrets), the AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...: obstore reads them itself), then the
profile (`AWS_PROFILE` or "default") in `~/.aws/credentials` and `~/.aws/config`, then obstore's own
chain (web identity, container and instance credentials). An `http://` endpoint is allowed (a local
S3-compatible server). No message made here carries a key, a signature or a presigned URL.
"""

from __future__ import annotations

import configparser
import datetime as dt
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from streamclip.config import StorageConfig
from streamclip.errors import Reason, StreamclipError, UsageError
from streamclip.sources import scrub

if TYPE_CHECKING:
    from obstore.store import RetryConfig, S3Store

SCHEME = "s3://"
_settings = StorageConfig()


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str  # "" or ending in "/" for a prefix

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def child(self, rel: str) -> S3Url:
        return S3Url(self.bucket, f"{self.key.rstrip('/')}/{rel}" if self.key.strip("/") else rel)


class StorageError(StreamclipError):
    """An object-storage call failed; the message names the URL (never a secret), `kind` says why."""

    def __init__(self, url: str, reason: str, kind: Reason) -> None:
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.kind = url, reason, kind


def is_s3(text: str) -> bool:
    return text[:5].lower() == SCHEME


def parse(url: str) -> S3Url:
    """`s3://bucket/key` → S3Url; ValueError for a URL without a bucket."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.netloc or parts.query or "@" in parts.netloc:
        raise ValueError(f"{scrub(url)}: expected s3://bucket/key (no credentials or query in the URL)")
    return S3Url(parts.netloc, parts.path.lstrip("/"))


def configure(settings: StorageConfig) -> None:
    """Use `settings` for every client made from now on in this process (a pipeline opening calls it)."""
    global _settings
    if settings != _settings:
        _settings = settings
        store.cache_clear()


def presign_expiry() -> dt.timedelta:
    return dt.timedelta(seconds=_settings.presign_expiry_s)


def multipart_chunk_bytes() -> int:
    return max(5, _settings.multipart_chunk_mb) * 1024 * 1024  # S3's smallest part is 5 MiB


@functools.lru_cache(maxsize=64)
def store(bucket: str) -> S3Store:
    """The client of one bucket (thread-safe, shared by the process's actors)."""
    try:
        from obstore.store import S3Store
    except ImportError:
        raise UsageError("s3:// needs the [s3] extra: pip install 'streamclip[s3]' (obstore)") from None
    config, endpoint = _client_config()
    retry: RetryConfig = {
        "max_retries": 4,
        "retry_timeout": dt.timedelta(seconds=_settings.retry_timeout_s),
        "backoff": {"init_backoff": dt.timedelta(milliseconds=100), "max_backoff": dt.timedelta(seconds=2), "base": 2},
    }
    client = {
        "allow_http": endpoint.lower().startswith("http://"),
        "timeout": dt.timedelta(seconds=_settings.request_timeout_s),
        "connect_timeout": dt.timedelta(seconds=10),
    }
    return S3Store(bucket, config=config, client_options=client, retry_config=retry)  # type: ignore[arg-type]


def request_timeout_s() -> float:
    return _settings.request_timeout_s


@dataclass(frozen=True)
class SigningSettings:
    """What a request signed here (not by the client) needs: static credentials, endpoint, region."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    token: str = field(default="", repr=False)
    endpoint: str = ""  # "" for AWS itself
    region: str = "us-east-1"


def signing_settings() -> SigningSettings | None:
    """The client's static credentials (the environment's keys, else the profile's) with its
    endpoint and region; None when it has none (an instance role, web identity: the client's own)."""
    config, endpoint = _client_config()
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        token = os.environ.get("AWS_SESSION_TOKEN", "")
    else:
        key, secret, token = (
            config.get("access_key_id", ""),
            config.get("secret_access_key", ""),
            config.get("token", ""),
        )
    if not key or not secret:
        return None
    return SigningSettings(key, secret, token, endpoint, config["region"])


def _client_config() -> tuple[dict[str, Any], str]:
    """S3Config keys to set over obstore's own reading of the environment, and the endpoint used."""
    config: dict[str, Any] = {}
    env_has_keys = bool(os.environ.get("AWS_ACCESS_KEY_ID"))
    profile = _profile_values(_settings.profile or os.environ.get("AWS_PROFILE") or "default")
    if not env_has_keys and profile.get("aws_access_key_id"):
        config["access_key_id"] = profile["aws_access_key_id"]
        config["secret_access_key"] = profile.get("aws_secret_access_key", "")
        if profile.get("aws_session_token"):
            config["token"] = profile["aws_session_token"]
    region = _settings.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    config["region"] = region or profile.get("region") or "us-east-1"
    endpoint = (
        _settings.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or profile.get("endpoint_url", "")
    )
    if endpoint:
        config["endpoint"] = endpoint
    return config, endpoint


def _profile_values(name: str) -> dict[str, str]:
    """A profile's keys from the shared credentials file and the config file (botocore's layout:
    `[name]` in credentials, `[profile name]` or `[default]` in config); {} when neither has it."""
    home = Path.home() / ".aws"
    files = [
        (Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / "credentials"), name),
        (Path(os.environ.get("AWS_CONFIG_FILE") or home / "config"), name if name == "default" else f"profile {name}"),
    ]
    values: dict[str, str] = {}
    for path, section in files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        if parser.has_section(section):
            for key, value in parser.items(section):
                values.setdefault(key, value)
    return values


# ---------------------------------------------------------------------------------------------
# Errors


def storage_error(exc: Exception, url: str, *, otherwise: Reason = Reason.OUTPUT_IO) -> StorageError:
    """An obstore (or connection) error on `url` as a StorageError with a kind (`otherwise` when it is
    neither "not found" nor "denied": a server gone, a timeout) and a one-line reason."""
    from obstore import exceptions as obe

    text = _first_line(str(exc))
    if isinstance(exc, FileNotFoundError | obe.NotFoundError) or "NoSuchBucket" in str(exc) or "NoSuchKey" in str(exc):
        what = "bucket not found" if "NoSuchBucket" in str(exc) else "object not found"
        return StorageError(url, f"{what} ({text})", Reason.MISSING)
    if isinstance(exc, obe.PermissionDeniedError | obe.UnauthenticatedError | PermissionError) or " 403 " in text:
        reason = f"access denied: check the credentials and the bucket's policy ({text})"
        return StorageError(url, reason, Reason.PERMISSION)
    return StorageError(url, f"object storage request failed: {text}", otherwise)


def _first_line(text: str) -> str:
    """The server's answer ("HTTP 404 Not Found") when there is one, else obstore's message up to its
    debug dump, without secrets, at most 300 characters."""
    status = _STATUS.search(text)
    if status is not None:
        return f"HTTP {status.group(1).strip()}"
    line = text.split("\n\nDebug source:", 1)[0].strip().splitlines()
    return scrub(line[0] if line else "no message")[:300]


_STATUS = re.compile(r"Server returned non-2xx status code: ([0-9]{3}[A-Za-z ]*)")
