"""The review site kept current by the daemon (`report = true` in serve, `watch --report`).

The daemon tells it which videos start, which clips are written and which videos finish; each
change marks the video dirty, and a single task rebuilds the dirty pages and the index at most once
per `debounce_s`. In-flight videos show the clips written so far and the pages reload themselves
until nothing is in flight. A failed rebuild is logged and retried at the next change: the review
site never stops the daemon.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from streamclip.review.model import InFlight
from streamclip.review.site import SiteCache, build_report

log = logging.getLogger(__name__)


class LiveReport:
    def __init__(self, out: Path, *, debounce_s: float = 1.0) -> None:
        self.out = out
        self.debounce_s = debounce_s
        self._flights: dict[str, InFlight] = {}  # by source path
        self._dirty: set[str] = set()  # rels
        self._changed = asyncio.Event()
        self._cache = SiteCache()
        self.builds = 0

    def started(self, source: str, rel: str) -> None:
        self._flights[source] = InFlight(rel=rel, source=source)
        self._mark(rel)

    def clip(self, source: str, clip_id: str) -> None:
        flight = self._flights.get(source)
        if flight is not None:
            self._flights[source] = InFlight(flight.rel, source, (*flight.clip_ids, clip_id))
            self._mark(flight.rel)

    def finished(self, source: str, rel: str) -> None:
        flight = self._flights.pop(source, None)
        self._mark(flight.rel if flight is not None else rel)

    def _mark(self, rel: str) -> None:
        self._dirty.add(rel)
        self._changed.set()

    async def run(self) -> None:
        """Build once at start (the whole site), then after every burst of changes."""
        await self.build(None)
        while True:
            await self._changed.wait()
            await asyncio.sleep(self.debounce_s)  # a burst of clips makes one rebuild
            self._changed.clear()
            dirty, self._dirty = self._dirty, set()
            await self.build(dirty)

    async def flush(self) -> None:
        """Rebuild what changed since the last build (the daemon's last word before it exits)."""
        dirty, self._dirty = self._dirty, set()
        await self.build(dirty)

    async def build(self, only: set[str] | None) -> None:
        try:
            flights = list(self._flights.values())
            await build_report(self.out, only=only, in_flight=flights, live=True, cache=self._cache)
            self.builds += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("review site: rebuild failed (retried at the next change): %s", exc, exc_info=exc)
            self._dirty |= only or set()
