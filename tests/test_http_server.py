"""The daemon's HTTP server (`ingest.httpserver`) against clients that misbehave, on 127.0.0.1 only.

What the daemon relies on: a client that stops reading is cut and holds no memory; connections are
bounded; a page of another site (DNS rebinding: its name, this machine's address) reads no file;
answers carry nosniff, a CSP and Cache-Control; a byte range is sent from its offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from raw_http import raw_get

from streamclip.ingest.httpserver import MetricsServer, host_matches, is_loopback
from streamclip.ingest.ledger import Ledger
from streamclip.ingest.metrics import LedgerFigures, LiveStats, Metrics
from streamclip.review.serving import byte_range

BIG = 16 << 20  # more than the socket buffers of both ends hold


def _stalled(port: int, target: str) -> socket.socket:
    """A client that asks for `target`, reads the first bytes of the answer, and reads no more."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.settimeout(30)
    conn.connect(("127.0.0.1", port))
    conn.sendall(f"GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert conn.recv(256).startswith(b"HTTP/1.0 200")  # the server is sending: past its reading of the file
    return conn


def _rest_of(conn: socket.socket) -> bytes:
    """What `conn` still receives until the server closes or resets it; then it is closed."""
    conn.settimeout(30)
    rest = b""
    with conn, contextlib.suppress(ConnectionError):
        while chunk := conn.recv(1 << 20):
            rest += chunk
    return rest


async def eventually(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait until `check()` holds (`timeout_s` bounds a hang; it is not a speed expected)."""
    async with asyncio.timeout(timeout_s):
        for _ in itertools.count():
            if check():
                return
            await asyncio.sleep(0.02)


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.mp4"
    path.write_bytes(bytes(range(256)) * (BIG // 256))
    return path


async def test_a_client_that_stops_reading_is_cut_and_connections_are_bounded(big_file: Path) -> None:
    files = {"/big.mp4": (big_file, "video/mp4")}
    server = MetricsServer(
        Metrics(), "127.0.0.1", 0, lambda: "", files.get, byte_range,
        max_connections=3, request_timeout_s=120, write_timeout_s=0.5,
    )  # fmt: skip
    await server.start()
    idle: list[socket.socket] = []
    try:
        stalled = await asyncio.to_thread(_stalled, server.port, "/big.mp4")
        await eventually(lambda: server.aborted == 1)  # its writes missed their deadline
        assert server.connections() == 0
        # Read in a thread: the abort closes the socket in a callback of this event loop, which a
        # blocking read here would hold up (the test hung when that callback was still queued).
        rest = await asyncio.to_thread(_rest_of, stalled)
        assert len(rest) < BIG  # cut, not finished
        for _ in range(3):  # three connections that say nothing (their head deadline is 120 s away)
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
        await eventually(lambda: server.connections() == 3)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as extra:
            assert (await asyncio.to_thread(extra.recv, 1024)).startswith(b"HTTP/1.0 503")
        assert server.refused == 1
    finally:
        for conn in idle:
            conn.close()
        await server.close()


async def test_files_answer_only_to_this_servers_own_names_with_safe_headers(big_file: Path) -> None:
    files = {"/big.mp4": (big_file, "video/mp4")}
    server = MetricsServer(Metrics(), "127.0.0.1", 0, lambda: "", files.get, byte_range)
    await server.start()
    try:
        port = server.port
        for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"):
            status, headers, body = await asyncio.to_thread(
                raw_get, port, "/big.mp4", "Range: bytes=1000-1099\r\n", host=host
            )
            assert status == 206, host
            assert body == (bytes(range(256)) * 8)[1000:1100]
            assert headers["Content-Range"] == f"bytes 1000-1099/{BIG}"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-cache"
        for host in (f"evil.example:{port}", "evil.example", "10.1.2.3", f"127.0.0.1.evil.example:{port}"):
            status, headers, body = await asyncio.to_thread(raw_get, port, "/big.mp4", host=host)
            assert status == 403, host
            assert len(body) < 200
            assert headers["X-Content-Type-Options"] == "nosniff"
        status, headers, _ = await asyncio.to_thread(raw_get, port, "/metrics", host=f"scraper.example:{port}")
        assert status == 200  # a scraper may use any name
        assert headers["Cache-Control"] == "no-store"
        status, _, body = await asyncio.to_thread(raw_get, port, "/big.mp4")
        assert (status, len(body)) == (200, BIG)
    finally:
        await server.close()


def test_host_names_and_loopback_addresses() -> None:
    own = frozenset({"localhost", "127.0.0.1"})
    assert host_matches("127.0.0.1:9464", own, wildcard=False)
    assert host_matches("[::1]:9464", own, wildcard=False)
    assert not host_matches("rebind.example:9464", own, wildcard=False)
    assert not host_matches("192.168.1.5", own, wildcard=False)
    assert host_matches("192.168.1.5:9464", frozenset({"localhost", "0.0.0.0"}), wildcard=True)
    assert not host_matches("rebind.example", frozenset({"localhost", "0.0.0.0"}), wildcard=True)
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.0.0.1", "example.org")] == [
        True, True, True, False, False, False
    ]  # fmt: skip


async def test_a_scrape_reads_the_ledger_in_a_thread_never_on_the_event_loop(tmp_path: Path) -> None:
    """The ledger's whole-table query runs off the event loop (this test's thread runs the loop),
    before the scrape that shows it: each scrape is up to date."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for i in range(3):
        ledger.queue(f"/in/{i}.mp4", size=1, mtime_ns=1, fingerprint=str(i), settings_hash="s")
    figures = LedgerFigures(tmp_path / "ledger.sqlite")
    metrics = Metrics(lambda: LiveStats(channels={}, ledger=figures.latest), before_scrape=figures.refresh)
    server = MetricsServer(metrics, "127.0.0.1", 0, lambda: "")
    await server.start()
    try:
        for _ in range(5):
            status, _, body = await asyncio.to_thread(raw_get, server.port, "/metrics")
            assert status == 200
            assert b'streamclip_ledger_sources{state="queued"} 3.0' in body
        ledger.queue("/in/3.mp4", size=1, mtime_ns=1, fingerprint="3", settings_hash="s")
        body = (await asyncio.to_thread(raw_get, server.port, "/metrics"))[2]
        assert b'streamclip_ledger_sources{state="queued"} 4.0' in body  # up to date
    finally:
        await server.close()
        ledger.close()
    assert figures.reads == 6
    assert threading.get_ident() not in figures.reader_threads
