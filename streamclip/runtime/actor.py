"""The actor shape: one `run` loop that owns its ends, a hook per item, a hook at end of stream.

`Actor` handles items one at a time. `PoolActor` runs up to `workers` items concurrently and keeps
per-group order of *markers*: a marker (e.g. "this video has no more spans") is passed on only
after every item of its group that arrived before it has been handled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from streamclip.runtime.channel import Channel, ReceiverClosed
from streamclip.runtime.errors import raise_all

In = TypeVar("In")
Out = TypeVar("Out")


class Actor(Generic[In, Out]):
    """Receives from `inbox`, sends to `outbox`; closes both ends when its run loop ends."""

    name = "actor"

    def __init__(self, inbox: Channel[In], outbox: Channel[Out]) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.items_in = 0
        self.items_out = 0
        self.busy_s = 0.0

    async def run(self) -> None:
        try:
            await self.loop()
            await self.on_end()
        except ReceiverClosed:
            pass  # downstream is gone: stop quietly
        except Exception as exc:
            self.outbox.fail(exc)  # downstream sees a crash, not a normal end of stream
            raise
        finally:
            self.outbox.close()
            self.inbox.close_receiver()

    async def loop(self) -> None:
        """Receive until end of stream, handing each item to `on_item`."""
        async for item in self.inbox:
            await self.dispatch(item)

    async def dispatch(self, item: In) -> None:
        self.items_in += 1
        started = time.monotonic()
        await self.on_item(item)
        self.busy_s += time.monotonic() - started

    async def on_item(self, item: In) -> None:
        raise NotImplementedError

    async def on_end(self) -> None:
        """The inbox ended; flush whatever is held."""

    async def emit(self, item: Out) -> None:
        await self.outbox.send(item)
        self.items_out += 1

    def statistics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "items_in": self.items_in,
            "items_out": self.items_out,
            "busy_s": round(self.busy_s, 3),
            "receive_blocked_s": round(self.inbox.statistics().receive_blocked_s, 3),
            "send_blocked_s": round(self.outbox.statistics().send_blocked_s, 3),
        }


class PoolActor(Actor[In, Out]):
    """An actor that handles up to `workers` items at once, keeping group markers in order."""

    def __init__(self, inbox: Channel[In], outbox: Channel[Out], *, workers: int) -> None:
        super().__init__(inbox, outbox)
        if workers < 1:
            raise ValueError(f"{self.name}: workers must be at least 1")
        self.workers = workers
        self._slots = asyncio.Semaphore(workers)
        self._in_flight: dict[Hashable, int] = {}  # per group; a group leaves when its last item is done
        self._held_markers: dict[Hashable, list[In]] = {}
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def group_of(self, item: In) -> Hashable:
        raise NotImplementedError

    def is_marker(self, item: In) -> bool:
        raise NotImplementedError

    async def handle(self, item: In) -> None:
        """Handle one (non-marker) item; runs concurrently with up to `workers - 1` others."""
        raise NotImplementedError

    async def on_marker(self, item: In) -> None:
        """All earlier items of the marker's group are handled; by default pass the marker on."""
        await self.emit(item)  # type: ignore[arg-type]

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                await super().run()
        except BaseExceptionGroup as failed:
            _, errors = failed.split(ReceiverClosed)
            if errors is None:
                return  # a worker found downstream gone: stop quietly, as `Actor.run` does
            raise_all(errors, where=f"streamclip actor {self.name!r}")

    async def on_item(self, item: In) -> None:
        key = self.group_of(item)
        if self.is_marker(item):
            if key in self._in_flight:
                self._held_markers.setdefault(key, []).append(item)
            else:
                await self.on_marker(item)
            return
        await self._slots.acquire()
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        self._active += 1
        self._idle.clear()
        self._group.create_task(self._work(key, item))

    async def on_end(self) -> None:
        await self._idle.wait()  # workers emit the markers they release

    async def _work(self, key: Hashable, item: In) -> None:
        try:
            try:
                await self.handle(item)
            finally:
                self._slots.release()
                self._in_flight[key] -= 1
                if not self._in_flight[key]:
                    del self._in_flight[key]
            if key not in self._in_flight:
                for marker in self._held_markers.pop(key, []):
                    await self.on_marker(marker)
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    def statistics(self) -> dict[str, Any]:
        stats = super().statistics()
        stats["workers"] = self.workers
        stats["in_flight"] = sum(self._in_flight.values())
        return stats
