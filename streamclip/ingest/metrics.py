"""Prometheus metrics of the ingest daemon (served by `httpserver.MetricsServer`, re-exported here).

`Metrics` owns its own `CollectorRegistry` (nothing global). Counters and the latency histogram
are updated by the daemon as events arrive; channel depths, detector batching, watcher and ledger
figures are read at scrape time from a `LiveStats` snapshot. The server answers `GET /metrics`
(the Prometheus text format) and `GET /healthz` (200 "ok", 503 with the reason otherwise) on one
address, loopback by default; it runs on the daemon's event loop, so it stops with it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from streamclip.ingest.httpserver import MetricsServer
from streamclip.ingest.ledger import Ledger

__all__ = ["LedgerFigures", "LiveStats", "Metrics", "MetricsServer"]

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)


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
    # curation stages (streamclip.stages): name -> clips it (processed, dropped, failed on), in this run
    stages: dict[str, tuple[int, int, int]] = msgspec.field(default_factory=dict)


class LedgerFigures:
    """The ledger's sources and clips by state, for /metrics: read for each scrape in a thread, over a
    read-only connection of its own (scrapes that come while a read runs share it). The whole-table
    query never runs on the event loop: at a million sources it takes a while, and the loop serves
    the pipeline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.latest: dict[str, tuple[int, int]] = {}  # state -> (sources, clips)
        self.reads = 0
        self.reader_threads: set[int] = set()  # where the query ran (a test checks: never the loop's)
        self._reading: asyncio.Future[dict[str, tuple[int, int]]] | None = None

    async def refresh(self) -> None:
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(asyncio.to_thread(self.read))
        self.latest = await asyncio.shield(self._reading)

    def read(self) -> dict[str, tuple[int, int]]:
        """The figures now (blocking); the last ones when the ledger cannot be read."""
        try:
            ledger = Ledger(self.path, create=False)
        except (OSError, sqlite3.Error):
            return self.latest
        try:
            self.reads += 1
            self.reader_threads.add(threading.get_ident())
            return {count.state: (count.sources, count.clips) for count in ledger.summary()}
        except sqlite3.Error as exc:
            log.warning("metrics: cannot read the ledger: %s", exc)
            return self.latest
        finally:
            ledger.close()


class Metrics:
    """The daemon's counters, gauges and histogram, in a registry of their own."""

    def __init__(
        self, live: Callable[[], LiveStats] | None = None, *, before_scrape: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.before_scrape = before_scrape  # brings figures read off the event loop up to date
        self.registry = CollectorRegistry()
        r = self.registry
        self.clips = Counter("streamclip_clips", "Clips written to the output folder", registry=r)
        self.clips_reused = Counter(
            "streamclip_clips_reused", "Clips found already finished in the output folder (resume)", registry=r
        )
        self.clip_failures = Counter("streamclip_clip_failures", "Clips whose encode failed", registry=r)
        self.clips_dropped = Counter(
            "streamclip_clips_dropped", "Clips a curation stage filtered out (meta written, no clip file)", registry=r
        )
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
            "streamclip_stream_reconnects",
            "Sessions of a serve.toml stream opened again (stream: a hash of its URL)",
            ["stream"],
            registry=r,
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

    async def scrape(self) -> bytes:
        """The exposition, once the figures read off the event loop are up to date."""
        if self.before_scrape is not None:
            await self.before_scrape()
        return self.exposition()


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
        staged = CounterMetricFamily(
            "streamclip_stage_clips", "Clips through each curation stage, by outcome", labels=["stage", "outcome"]
        )
        for name, counts in stats.stages.items():
            for outcome, count in zip(("processed", "dropped", "failed"), counts, strict=True):
                staged.add_metric([name, outcome], count)
        yield staged
