"""The daemon's HTTP server: `/metrics`, `/healthz` and, with a resolver, the review site's files.

HTTP/1.0, one GET per connection, on the daemon's event loop. What it holds to, whatever the
clients do (memory stays bounded by `max_connections` times about two chunks):

- at most `max_connections` connections are served at once; one more is answered 503 and closed;
- the request head (16 KiB at most) must arrive within `request_timeout_s`;
- a file is sent from the disk in pieces of `CHUNK_BYTES` (`sendfile`: never read whole into
  memory), a byte range by starting at its offset, and each piece must leave within
  `write_timeout_s`: a client that stops reading has its connection aborted (its buffer dropped,
  not kept for a close that never completes);
- a file is answered only when the request's `Host` is this server's address, `localhost`, this
  machine's name or (bound to every address) an IP address: a page of another site that makes its
  name resolve to this machine (DNS rebinding) gets 403. `/metrics` and `/healthz` answer any Host,
  so a scraper may use any name;
- every answer says `X-Content-Type-Options: nosniff`, a `Content-Security-Policy` that lets
  pages load only this server's scripts, styles, images and clips, and a `Cache-Control`;
- bound to an address other than loopback, it logs a warning at start: whoever reaches that address
  can read the metrics and, with the review site on, every page and clip.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 64
CHUNK_BYTES = 256 * 1024
HEAD_LIMIT_BYTES = 16 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_COMMON = f"X-Content-Type-Options: nosniff\r\nContent-Security-Policy: {CSP}\r\nConnection: close\r\n"
_REASONS = {
    200: "OK", 206: "Partial Content", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    503: "Service Unavailable",
}  # fmt: skip

# A request path -> (file, content type) that may be served, or None (the review site's resolver).
FileResolver = Callable[[str], "tuple[Path, str] | None"]
# A request head and a file size -> the byte range [start, end) asked for, or None for all of it.
RangeParser = Callable[[bytes, int], "tuple[int, int] | None"]


class Exposition(Protocol):
    async def scrape(self) -> bytes: ...


class MetricsServer:
    """`/metrics` and `/healthz`; with `files`, any other GET path is answered with the file `files`
    resolves it to (404 when None), in the byte range `ranges` reads from the request."""

    def __init__(
        self,
        metrics: Exposition,
        host: str,
        port: int,
        health: Callable[[], str],
        files: FileResolver | None = None,
        ranges: RangeParser | None = None,
        *,
        max_connections: int = MAX_CONNECTIONS,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        write_timeout_s: float = WRITE_TIMEOUT_S,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.health = health  # "" = healthy, else the reason it is not
        self.files = files
        self.ranges = ranges
        self.max_connections = max_connections
        self.request_timeout_s = request_timeout_s
        self.write_timeout_s = write_timeout_s
        self.refused = 0  # connections answered 503: over max_connections
        self.aborted = 0  # connections cut: no request in time, or a client that stopped reading
        self._hosts = _allowed_hosts(host)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=HEAD_LIMIT_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        if not is_loopback(self.host):
            what = "the metrics and every review page and clip" if self.files else "the metrics"
            log.warning(
                "the HTTP endpoint listens on %s:%d, not a loopback address: whoever can reach it reads %s "
                "(no login, no TLS)", self.host, self.port, what,
            )  # fmt: skip

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers))

    def connections(self) -> int:
        return len(self._handlers)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._handlers) >= self.max_connections:
            self.refused += 1
            writer.write(_head(503, "text/plain; charset=utf-8", 5, "Cache-Control: no-store\r\n") + b"busy\n")
            writer.close()  # a few bytes: they fit the socket's buffer, nothing stays here
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._exchange(reader, writer)
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.aborted += 1
            writer.transport.abort()  # a client that says nothing useful, or stopped reading, gets nothing more
        finally:
            self._handlers.discard(task)
            if not writer.transport.is_closing():
                writer.transport.abort()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(self.request_timeout_s):
            head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        path = target.split("?", 1)[0]
        file = None
        if method == "GET" and path not in ("/metrics", "/healthz") and self.files is not None:
            if not self._host_allowed(head):
                file = _Answer(403, b"forbidden: this server answers only to its own address or localhost\n")
            else:
                file = await self._open(head, path)
        answer = file or await self._respond(method, path)
        try:
            await self._send(writer, answer)
        finally:
            if answer.file is not None:
                answer.file.close()
        writer.close()
        async with asyncio.timeout(self.write_timeout_s):  # the last bytes, then the close
            await writer.wait_closed()

    async def _send(self, writer: asyncio.StreamWriter, answer: _Answer) -> None:
        writer.write(answer.head)
        async with asyncio.timeout(self.write_timeout_s):
            await writer.drain()
        if answer.file is None:
            return
        loop = asyncio.get_running_loop()
        offset, end = answer.span
        while offset < end:
            count = min(CHUNK_BYTES, end - offset)
            async with asyncio.timeout(self.write_timeout_s):
                sent = await loop.sendfile(writer.transport, answer.file, offset, count)
            if sent == 0:
                raise ConnectionError("the file ended early")
            offset += sent

    async def _open(self, head: bytes, path: str) -> _Answer:
        assert self.files is not None
        found = await asyncio.to_thread(self.files, path)
        if found is None:
            return _Answer(404, b"not found\n")
        file, content_type = found
        try:
            handle = await asyncio.to_thread(file.open, "rb")
        except OSError:
            return _Answer(404, b"not found\n")
        size = os.fstat(handle.fileno()).st_size
        wanted = self.ranges(head, size) if self.ranges is not None else None
        if wanted is None:
            return _Answer(200, b"", content_type, "Accept-Ranges: bytes\r\n", handle, (0, size))
        start, end = wanted
        extra = f"Accept-Ranges: bytes\r\nContent-Range: bytes {start}-{end - 1}/{size}\r\n"
        return _Answer(206, b"", content_type, extra, handle, (start, end))

    async def _respond(self, method: str, path: str) -> _Answer:
        if method != "GET":
            return _Answer(405, b"only GET\n")
        if path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST

            return _Answer(200, await self.metrics.scrape(), CONTENT_TYPE_LATEST)
        if path == "/healthz":
            problem = self.health()
            return _Answer(503, f"{problem}\n".encode()) if problem else _Answer(200, b"ok\n")
        return _Answer(404, b"not found: try /metrics or /healthz\n")

    def _host_allowed(self, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")[1:]
        value = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("host:")), None)
        if value is None:
            return True  # HTTP/1.0 without Host: not a browser, so not a rebinding attack
        return host_matches(value, self._hosts, wildcard=_is_wildcard(self.host))


class _Answer:
    """A status line and headers, then a small body or a span of an open file."""

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra: str = "",
        file: BinaryIO | None = None,
        span: tuple[int, int] = (0, 0),
    ) -> None:
        self.file = file
        self.span = span
        cache = "no-cache" if file is not None else "no-store"
        length = span[1] - span[0] if file is not None else len(body)
        self.head = _head(status, content_type, length, f"{extra}Cache-Control: {cache}\r\n") + body


def _head(status: int, content_type: str, length: int, extra: str) -> bytes:
    return (
        f"HTTP/1.0 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n{extra}{_COMMON}"
        f"Content-Length: {length}\r\n\r\n"
    ).encode("latin-1")


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def _allowed_hosts(bound: str) -> frozenset[str]:
    names = {"localhost", bound.lower()}
    if _is_wildcard(bound):
        names.add(socket.gethostname().lower())
    return frozenset(names)


def host_matches(value: str, allowed: frozenset[str], *, wildcard: bool) -> bool:
    """Whether a `Host` header (`name`, `name:port`, `[v6]:port`) names this server: an allowed
    name, a loopback or the bound address, or any IP address when bound to every address (a
    browser sends an address only when it was pointed at it: no DNS answer can change it)."""
    name = value.lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name in allowed:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return wildcard or address.is_loopback or any(address == _address(other) for other in allowed)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
