"""A bounded, closable channel for asyncio with statistics.

`asyncio.Queue` has no close before Python 3.13 and `maxsize=0` means unbounded, so streamclip
uses this instead. Closing the sending side means end-of-stream once the queue drains; closing
the receiving side makes senders stop (they get `ReceiverClosed`). A channel can also be failed
with an exception, which the receiver raises after draining (how a crashed pipeline reaches the
consumer of its events).

Cancellation is clean on both sides: a `send` that raises `CancelledError` has not put its item
in (a receiver makes room for a waiting sender and wakes it; the sender puts its item in itself,
so a sender cancelled in between puts nothing in and hands its turn on), and no step after an
item is queued can be cancelled (waking receivers is synchronous).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class EndOfStream(Exception):
    """The sender closed the channel and every item has been received."""


class ReceiverClosed(Exception):
    """The receiving side is gone; the sender should stop producing."""


class ChannelStats(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    capacity: int
    depth: int
    max_depth: int
    items_in: int
    items_out: int
    send_blocked_s: float
    receive_blocked_s: float
    closed: bool
    senders_waiting: int = 0  # senders blocked on a full channel right now, each with an item in hand


class _BlockedSend(Generic[T]):
    """A sender waiting for room, with the item it will put in when its turn comes."""

    __slots__ = ("admitted", "item")

    def __init__(self, admitted: asyncio.Future[None], item: T) -> None:
        self.admitted = admitted
        self.item = item


class Channel(Generic[T]):
    """A FIFO of at most `capacity` items from one actor (any number of its workers) to another."""

    def __init__(self, capacity: int, name: str = "channel") -> None:
        if capacity < 1:
            raise ValueError(f"channel {name!r}: capacity must be at least 1 (no unbounded queues)")
        self.name = name
        self.capacity = capacity
        self._items: collections.deque[T] = collections.deque()
        self._receivers: list[asyncio.Future[None]] = []  # receivers waiting for an item or the end
        self._reserved = 0  # room promised to woken senders that have not put their item in yet
        self._send_closed = False
        self._receive_closed = False
        self._failure: BaseException | None = None
        self._max_depth = 0
        self._in = 0
        self._out = 0
        self._send_blocked_s = 0.0
        self._receive_blocked_s = 0.0
        self._blocked: collections.deque[_BlockedSend[T]] = collections.deque()  # senders, first come first

    # -- sending side -------------------------------------------------------------------------

    async def send(self, item: T) -> None:
        """Put `item` in, waiting while the channel is full (or raise `ReceiverClosed`).

        Senders that wait are served in the order they came, so with several producers on one
        channel (the decoder's workers) a fast one cannot starve a slow one.
        """
        if self._send_closed:
            raise RuntimeError(f"channel {self.name!r}: send after close")
        if self._has_room():
            self._enqueue(item)
            return
        # Full: wait in line; `receive` reserves room and wakes this sender when its turn comes.
        blocked = _BlockedSend(asyncio.get_running_loop().create_future(), item)
        self._blocked.append(blocked)
        started = time.monotonic()
        try:
            await blocked.admitted
        except asyncio.CancelledError:
            if blocked in self._blocked:
                self._blocked.remove(blocked)
            elif _admitted(blocked.admitted):  # woken, then cancelled before putting the item in
                self._reserved -= 1
                self._admit_blocked_senders()  # its turn goes to the next sender in line
            raise
        finally:
            self._send_blocked_s += time.monotonic() - started
        self._reserved -= 1
        self._check_receiver()
        self._enqueue(item)

    def close(self) -> None:
        """End of stream: the receiver gets the queued items, then `EndOfStream`."""
        self._send_closed = True
        self._wake_receivers()

    def fail(self, error: BaseException) -> None:
        """End of stream with an error the receiver raises after the queued items."""
        if self._failure is None:
            self._failure = error
        self.close()

    # -- receiving side -----------------------------------------------------------------------

    async def receive(self, timeout_s: float | None = None) -> T:
        """Next item; `EndOfStream` once closed and drained; `TimeoutError` after `timeout_s`."""
        if not self._items and not self._send_closed:
            started = time.monotonic()
            try:
                async with asyncio.timeout(timeout_s):
                    while not self._items and not self._send_closed:
                        await self._wait_for_change()
            finally:
                self._receive_blocked_s += time.monotonic() - started
        if self._items:
            item = self._items.popleft()
            self._out += 1
            self._admit_blocked_senders()
            return item
        if self._failure is not None:
            raise self._failure
        raise EndOfStream

    def close_receiver(self) -> None:
        """The consumer is gone: drop queued items and make senders raise `ReceiverClosed`."""
        self._receive_closed = True
        self._items.clear()
        while self._blocked:
            blocked = self._blocked.popleft()
            if not blocked.admitted.done():
                blocked.admitted.set_exception(ReceiverClosed(self.name))
        self._wake_receivers()

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            try:
                yield await self.receive()
            except EndOfStream:
                return

    # -- introspection ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._send_closed

    def statistics(self) -> ChannelStats:
        return ChannelStats(
            name=self.name,
            capacity=self.capacity,
            depth=len(self._items),
            max_depth=self._max_depth,
            items_in=self._in,
            items_out=self._out,
            send_blocked_s=self._send_blocked_s,
            receive_blocked_s=self._receive_blocked_s,
            closed=self._send_closed,
            senders_waiting=len(self._blocked),
        )

    # -- internals ----------------------------------------------------------------------------

    def _has_room(self) -> bool:
        self._check_receiver()
        return len(self._items) + self._reserved < self.capacity and not self._blocked

    def _enqueue(self, item: T) -> None:
        self._items.append(item)
        self._in += 1
        self._max_depth = max(self._max_depth, len(self._items))
        self._wake_receivers()

    def _admit_blocked_senders(self) -> None:
        while self._blocked and len(self._items) + self._reserved < self.capacity:
            blocked = self._blocked.popleft()
            if blocked.admitted.done():  # cancelled while waiting
                continue
            self._reserved += 1
            blocked.admitted.set_result(None)

    async def _wait_for_change(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._receivers.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._receivers:
                self._receivers.remove(waiter)

    def _wake_receivers(self) -> None:
        for waiter in self._receivers:
            if not waiter.done():
                waiter.set_result(None)
        self._receivers.clear()

    def _check_receiver(self) -> None:
        if self._receive_closed:
            raise ReceiverClosed(self.name)


def _admitted(future: asyncio.Future[None]) -> bool:
    """The sender's turn came (not cancelled, not refused with `ReceiverClosed`)."""
    return future.done() and not future.cancelled() and future.exception() is None
