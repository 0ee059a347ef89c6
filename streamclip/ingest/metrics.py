"""Prometheus metrics of the ingest daemon, and a tiny asyncio HTTP server for them.

`Metrics` owns its own `CollectorRegistry` (nothing global). Counters and the latency histogram
are updated by the daemon as events arrive; channel depths, detector batching, watcher and ledger
figures are read at scrape time from a `LiveStats` snapshot. The server answers `GET /metrics`
(the Prometheus text format) and `GET /healthz` (200 "ok", 503 with the reason otherwise) on one
address, loopback by default; it runs on the daemon's event loop, so it stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)
REQUEST_TIMEOUT_S = 5.0


class LiveStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the daemon reports at scrape time."""

    channels: dict[str, tuple[int, int]]  # name -> (depth, capacity)
    detector_batches: int = 0
    detector_windows: int = 0
    watcher_pending: int = 0
    watcher_probes: int = 0
    ledger: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)  # state -> (sources, clips)
    live_lag_s: float = 0.0  # the worst lag behind live of the stream sources being read
    live_spool_bytes: int = 0


class Metrics:
    """The daemon's counters, gauges and histogram, in a registry of their own."""

    def __init__(self, live: Callable[[], LiveStats] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.clips = Counter("streamclip_clips", "Clips written to the output folder", registry=r)
        self.clips_reused = Counter(
            "streamclip_clips_reused", "Clips found already finished in the output folder (resume)", registry=r
        )
        self.clip_failures = Counter("streamclip_clip_failures", "Clips whose encode failed", registry=r)
        self.videos = Counter("streamclip_videos", "Sources finished, by outcome", ["outcome"], registry=r)
        self.failures = Counter(
            "streamclip_failures", "Failed or quarantined sources by kind of failure", ["reason"], registry=r
        )
        self.skipped = Counter("streamclip_sources_skipped", "Sources not processed again, by why", ["why"], registry=r)
        self.latency = Histogram(
            "streamclip_ingest_to_clip_seconds",
            "From a source found complete to each of its clips written",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.stream_reconnects = Counter(
            "streamclip_stream_reconnects", "Sessions of a serve.toml stream opened again", ["stream"], registry=r
        )
        self.in_flight = Gauge("streamclip_videos_in_flight", "Sources submitted and not finished", registry=r)
        self.draining = Gauge("streamclip_draining", "1 while the daemon drains before exiting", registry=r)
        for outcome in ("done", "failed", "quarantined"):  # listed at 0 from the start
            self.videos.labels(outcome=outcome)
        for why in ("done", "duplicate", "quarantined"):
            self.skipped.labels(why=why)
        if live is not None:
            r.register(_LiveCollector(live))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector:
    def __init__(self, live: Callable[[], LiveStats]) -> None:
        self.live = live

    def describe(self) -> list[Metric]:
        return []  # no collect() at registration time: the daemon is not running yet

    def collect(self) -> Iterator[Metric]:
        stats = self.live()
        depth = GaugeMetricFamily("streamclip_channel_depth", "Items queued in a channel", labels=["channel"])
        capacity = GaugeMetricFamily("streamclip_channel_capacity", "Capacity of a channel", labels=["channel"])
        for name, (items, room) in stats.channels.items():
            depth.add_metric([name], items)
            capacity.add_metric([name], room)
        yield depth
        yield capacity
        batches, windows = stats.detector_batches, stats.detector_windows
        yield CounterMetricFamily("streamclip_detector_batches", "Detector forward passes", value=batches)
        yield CounterMetricFamily("streamclip_detector_windows", "Windows through the detector", value=windows)
        mean = windows / batches if batches else 0.0
        yield GaugeMetricFamily("streamclip_detector_batch_size", "Mean windows per forward pass", value=mean)
        yield GaugeMetricFamily("streamclip_watch_pending", "Files waiting to settle", value=stats.watcher_pending)
        yield CounterMetricFamily("streamclip_watch_probes", "Settled files probed", value=stats.watcher_probes)
        yield GaugeMetricFamily(
            "streamclip_live_lag_seconds", "Worst lag behind live of the streams being read", value=stats.live_lag_s
        )
        yield GaugeMetricFamily(
            "streamclip_live_spool_bytes", "Bytes the live sources' spools hold on disk", value=stats.live_spool_bytes
        )
        sources = GaugeMetricFamily("streamclip_ledger_sources", "Sources in the ledger by state", labels=["state"])
        clips = GaugeMetricFamily("streamclip_ledger_clips", "Clips in the ledger by source state", labels=["state"])
        for state, (count, clip_count) in stats.ledger.items():
            sources.add_metric([state], count)
            clips.add_metric([state], clip_count)
        yield sources
        yield clips


# A request path -> (file, content type) that may be served, or None (the review site's resolver).
FileResolver = Callable[[str], "tuple[Path, str] | None"]
# A request head and a file size -> the byte range [start, end) asked for, or None for all of it.
RangeParser = Callable[[bytes, int], "tuple[int, int] | None"]


class MetricsServer:
    """`/metrics` and `/healthz` over HTTP/1.0, one short request per connection; with `files`,
    any other GET path is answered with the file `files` resolves it to (404 when None)."""

    def __init__(
        self,
        metrics: Metrics,
        host: str,
        port: int,
        health: Callable[[], str],
        files: FileResolver | None = None,
        ranges: RangeParser | None = None,
    ) -> None:
        self.files = files
        self.ranges = ranges
        self.metrics = metrics
        self.host = host
        self.port = port
        self.health = health  # "" = healthy, else the reason it is not
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=16 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
                writer.write(await self._serve_file(head) or self._respond(head))
                await writer.drain()
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that says nothing useful gets nothing
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve_file(self, head: bytes) -> bytes | None:
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        path = target.split("?", 1)[0]
        if self.files is None or method != "GET" or path in ("/metrics", "/healthz"):
            return None
        found = self.files(path)
        if found is None:
            return _response(404, b"not found\n")
        file, content_type = found
        try:
            body = await asyncio.to_thread(file.read_bytes)
        except OSError:
            return _response(404, b"not found\n")
        wanted = self.ranges(head, len(body)) if self.ranges is not None else None
        if wanted is None:
            return _response(200, body, content_type, "Accept-Ranges: bytes\r\n")
        start, end = wanted
        return _response(206, body[start:end], content_type, f"Content-Range: bytes {start}-{end - 1}/{len(body)}\r\n")

    def _respond(self, head: bytes) -> bytes:
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        path = target.split("?", 1)[0]
        if method != "GET":
            return _response(405, b"only GET\n")
        if path == "/metrics":
            return _response(200, self.metrics.exposition(), CONTENT_TYPE_LATEST)
        if path == "/healthz":
            problem = self.health()
            return _response(503, f"{problem}\n".encode()) if problem else _response(200, b"ok\n")
        return _response(404, b"not found: try /metrics or /healthz\n")


_REASONS = {
    200: "OK", 206: "Partial Content", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"
}  # fmt: skip


def _response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", extra: str = "") -> bytes:
    head = (
        f"HTTP/1.0 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
