"""What the daemon's parts share for one run: its settings, ledger, sources in flight and outputs."""

from __future__ import annotations

from dataclasses import dataclass

from streamclip.ingest.config import ServeConfig
from streamclip.ingest.flights import Flights
from streamclip.ingest.ledger import Ledger
from streamclip.ingest.metrics import Metrics
from streamclip.ingest.report import LineReporter
from streamclip.review import LiveReport


@dataclass(frozen=True, kw_only=True)
class DaemonContext:
    config: ServeConfig
    settings: str  # the pipeline settings' hash: the same content with other settings is new work
    ledger: Ledger
    flights: Flights
    metrics: Metrics
    reporter: LineReporter
    review: LiveReport | None  # the live review site, when `report = true`
