"""Live senders for tests: real ffmpeg sending a generated MPEG-TS paced like a live encoder
(`-readrate`, at READ_RATE times real time), held by the test.

A library for tests, not a test module. The sender reads the file from its stdin, which the test
feeds: the first part, then nothing until the test releases it (so "the first clip is out before
the sender finishes" holds by construction), then the rest. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from media import FFMPEG, FFPROBE

TS_PACKET = 188
# Paced, so the stream arrives over time as a live one does, but at twice real time: nothing a test
# checks depends on the pace (the holds make every "before" true by construction), and each test's
# 8 s of stream then takes 4 s of waiting.
READ_RATE = 2


class HeldSender:
    """`ffmpeg -readrate READ_RATE -f mpegts -i pipe:0 -c copy <out_args>`, fed `source` in two parts by the test."""

    def __init__(self, source: Path, out_args: Sequence[str], *, stdout: int | None = None) -> None:
        self.source = source
        self.data = source.read_bytes()
        self.fed = 0
        self.out_args = list(out_args)
        self.stdout = stdout
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            FFMPEG, "-hide_banner", "-v", "error", "-readrate", str(READ_RATE), "-f", "mpegts", "-i", "pipe:0",
            "-c", "copy",
            *self.out_args, stdin=asyncio.subprocess.PIPE, stdout=self.stdout or asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def feed(self, until: int | None = None) -> None:
        """Send the file up to byte `until` (the end if None)."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        end = len(self.data) if until is None else until
        self.proc.stdin.write(self.data[self.fed : end])
        self.fed = max(self.fed, end)
        await self.proc.stdin.drain()

    async def finish(self, timeout_s: float = 30.0) -> int:
        """End the sender's input and wait for it to send the rest and exit."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        async with asyncio.timeout(timeout_s):
            return await self.proc.wait()

    async def feed_all_and_finish(self) -> None:
        """Send the whole file and end; a receiver that stops reading early is not an error here."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
            await self.feed()
            await self.finish()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_bound(port: int, *, udp: bool = False, timeout_s: float = 20.0) -> None:
    """Wait until something on this machine listens on 127.0.0.1:`port` (read from /proc/net, so
    the listener's one connection is not taken by a probe)."""
    table = Path("/proc/net/udp" if udp else "/proc/net/tcp")
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and (udp or fields[3] == "0A"):  # 0A: LISTEN
                return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


async def wait_file(path: Path, *, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if path.exists():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout_s} s")
        await asyncio.sleep(0.05)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _TokenHandler(_QuietHandler):
    """Refuses a playlist asked for without `?token=<token>` (segments are served to anyone)."""

    token = ""

    def do_GET(self) -> None:
        if self.path.split("?")[0].endswith(".m3u8") and f"token={self.token}" not in self.path:
            self.send_error(403)
            return
        super().do_GET()


@contextlib.contextmanager
def http_folder(folder: Path, *, playlist_token: str | None = None) -> Iterator[int]:
    """Serve `folder` over HTTP on 127.0.0.1 (a thread); yields the port. With `playlist_token`,
    a playlist is served only to a request that carries it."""
    if playlist_token is None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
    else:
        token_handler = type("Handler", (_TokenHandler,), {"token": playlist_token})
        handler = functools.partial(token_handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def packet_offset(path: Path, frame: int) -> int:
    """The byte offset in an MPEG-TS file of video packet `frame` (decode order), on a TS packet
    boundary: feeding the bytes before it sends frames `[0, frame)` and the audio beside them."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    return int(out[frame].strip(",")) // TS_PACKET * TS_PACKET
