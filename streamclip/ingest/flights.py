"""The sources the daemon has in flight: at most `max_videos_in_flight`, each with when it was found.

Intake admits a source (waiting for a free slot), outcomes release it; a source that changed while
it was processed, or a followed file that may grow again, is handed back to the watcher to look at
once more when it is released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import msgspec

from streamclip.errors import Reason
from streamclip.ingest.metrics import Metrics


class InFlight(msgspec.Struct, kw_only=True):
    rel: str
    found_at: float  # monotonic: when the intake took the settled file
    follow: bool = False  # taken while still growing, read as it grows
    clip_failure: Reason | None = None  # the kind of its first failed clip


class Flights:
    def __init__(self, limit: int, metrics: Metrics) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._flights: dict[str, InFlight] = {}
        self._recheck_after: set[str] = set()
        self._metrics = metrics
        self.recheck: Callable[[str], None] | None = None  # the watcher's, once it runs

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, path: object) -> bool:
        return path in self._flights

    def __iter__(self) -> Iterator[str]:
        return iter(self._flights)

    def get(self, path: str) -> InFlight | None:
        return self._flights.get(path)

    def rels(self) -> list[str]:
        return sorted(flight.rel for flight in self._flights.values())

    def recheck_when_done(self, path: str) -> None:
        """`path` changed while it was processed: the watcher looks at it again once it is released."""
        self._recheck_after.add(path)

    async def admit(self, path: str, flight: InFlight) -> None:
        """Wait for a free slot, then count `path` in flight."""
        await self._slots.acquire()
        self._flights[path] = flight
        self._metrics.in_flight.set(len(self._flights))

    def release(self, path: str) -> None:
        flight = self._flights.pop(path, None)
        if flight is not None:
            self._slots.release()
        self._metrics.in_flight.set(len(self._flights))
        if flight is not None and flight.follow:
            self._recheck_after.add(path)  # finished where it stopped growing: it may grow again
        if path in self._recheck_after and self.recheck is not None:
            self._recheck_after.discard(path)
            self.recheck(path)
