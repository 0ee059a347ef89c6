"""A loopback HTTP proxy that holds remote files' secrets, so that no ffmpeg command line carries one.

ffmpeg's argv is readable by every local user (`/proc/PID/cmdline`). So an `s3://` object or an
`http(s)://` file with a password or a token is not given to ffmpeg by its URL: `grant(source)`
returns `http://127.0.0.1:<port>/<token>/<name>`, and this proxy, in the streamclip process,
forwards each of ffmpeg's requests (GET or HEAD, with its `Range`) to the real URL:

- an `s3://` object through a URL presigned for that one request (valid `storage.presign_expiry_s`,
  a minute by default), made here and never shown to anyone;
- an `http(s)://` file through its URL with the password sent as a Basic `Authorization` header
  (not resent to another host on a redirect).

A token is 32 random bytes, valid for one child: `children` revokes the tokens in a child's argv
when it exits (and none outlives `MAX_TOKEN_S`). Until then another local user who reads the
argv can read that one object through this proxy, nothing else; the password, the access keys and
the signatures stay in this process. The proxy listens on 127.0.0.1 only, in daemon threads,
started at the first grant.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import logging
import secrets
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from streamclip.ffmpeg import children

log = logging.getLogger(__name__)

MAX_TOKEN_S = 24 * 3600.0  # a token no child released (its argv was never run) goes after this
UPSTREAM_TIMEOUT_S = 30.0
CHUNK_BYTES = 256 * 1024
_FORWARDED = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag")
# Who a grant reads from: a callable giving the URL of one request, and its headers.
Upstream = Callable[[], tuple[str, dict[str, str]]]


class _Grants:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.upstreams: dict[str, tuple[Upstream, float]] = {}  # token -> (upstream, deadline)

    def add(self, upstream: Upstream) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.upstreams[token] = (upstream, time.monotonic() + MAX_TOKEN_S)
        return token

    def get(self, token: str) -> Upstream | None:
        with self.lock:
            found = self.upstreams.get(token)
            if found is not None and found[1] < time.monotonic():
                del self.upstreams[token]
                found = None
        return found[0] if found is not None else None

    def revoke(self, tokens: Sequence[str]) -> None:
        with self.lock:
            for token in tokens:
                self.upstreams.pop(token, None)

    def __len__(self) -> int:
        with self.lock:
            return len(self.upstreams)


_grants = _Grants()
_server: http.server.ThreadingHTTPServer | None = None
_start_lock = threading.Lock()


def grant(upstream: Upstream, name: str) -> str:
    """A loopback URL that reads what `upstream` names until the child given it exits (`release`)."""
    port = _port()
    return f"http://127.0.0.1:{port}/{_grants.add(upstream)}/{quote(name or 'file')}"


def release(argv: Sequence[str]) -> None:
    """Revoke the tokens of the loopback URLs in a child's argv (it has exited, or never ran)."""
    if _server is None:
        return
    prefix = f"http://127.0.0.1:{_server.server_address[1]}/"
    tokens = [arg[len(prefix) :].split("/", 1)[0] for arg in argv if arg.startswith(prefix)]
    if tokens:
        _grants.revoke(tokens)


def granted() -> int:
    """How many tokens are valid now (tests check that children leave none behind)."""
    return len(_grants)


def basic_auth(url: str) -> tuple[str, dict[str, str]]:
    """`url` without its `user:password@`, and that pair as a Basic `Authorization` header."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    header = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), {"Authorization": header}


children.on_child_exit(release)


def _port() -> int:
    global _server
    with _start_lock:
        if _server is None:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name="streamclip-proxy", daemon=True).start()
            _server = server
        return int(_server.server_address[1])


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: ffmpeg opens another to seek
    server_version = "streamclip"

    def log_message(self, format: str, *args: object) -> None:  # no request lines (they hold tokens)
        pass

    def do_GET(self) -> None:
        self._forward("GET")

    def do_HEAD(self) -> None:
        self._forward("HEAD")

    def _forward(self, method: str) -> None:
        token = self.path.lstrip("/").split("/", 1)[0]
        upstream = _grants.get(token)
        if upstream is None:
            self.send_error(404)
            return
        try:
            reply = self._open(upstream, method)
        except urllib.error.HTTPError as exc:
            with exc:
                self.send_error(exc.code, exc.reason)
            return
        except Exception as exc:  # unreachable, a signing failure: ffmpeg sees a 502 and says so
            log.info("proxy: upstream failed: %s", type(exc).__name__)
            self.send_error(502, "upstream unreachable")
            return
        with reply:
            self.send_response(reply.status)
            for name in _FORWARDED:
                if reply.headers.get(name) is not None:
                    self.send_header(name, reply.headers[name])
            self.end_headers()
            if method == "GET":
                try:
                    shutil.copyfileobj(reply, self.wfile, CHUNK_BYTES)
                except (OSError, http.client.HTTPException):  # ffmpeg seeked away or exited; upstream cut
                    self.close_connection = True

    def _open(self, upstream: Upstream, method: str) -> http.client.HTTPResponse:
        url, secret_headers = upstream()
        request = urllib.request.Request(url, method=method, headers={"User-Agent": "streamclip"})
        for name, value in secret_headers.items():
            request.add_unredirected_header(name, value)  # not sent on to another host
        if self.headers.get("Range"):
            request.add_header("Range", self.headers["Range"])
        reply: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S)
        return reply
