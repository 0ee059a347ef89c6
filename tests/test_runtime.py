"""The plumbing: bounded closable channels, the actor loop, the worker pool, the task group runner."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections.abc import Hashable
from typing import TypeVar

import pytest

from streamclip.runtime.actor import Actor, PoolActor
from streamclip.runtime.channel import Channel, EndOfStream, ReceiverClosed
from streamclip.runtime.pipeline import run_actors
from streamclip.runtime.waiting import in_thread, wait_out

T = TypeVar("T")

SHORT_S = 0.05  # long enough for a waiting coroutine to have finished had it been able to


async def blocked(awaitable: asyncio.Future[object] | asyncio.Task[object]) -> bool:
    """True if `awaitable` is still pending after a short while."""
    done, _ = await asyncio.wait({awaitable}, timeout=SHORT_S)
    return not done


# ---------------------------------------------------------------------------------------------
# Channel


@pytest.mark.parametrize("capacity", [0, -1])
def test_channel_rejects_capacity_below_one(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Channel[int](capacity)


async def test_send_blocks_while_full_and_resumes_after_a_receive() -> None:
    channel = Channel[int](2)
    await channel.send(1)
    await channel.send(2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(channel.send(3), timeout=SHORT_S)
    assert len(channel) == 2  # the timed-out send added nothing

    sending = asyncio.create_task(channel.send(3))
    assert await blocked(sending)
    assert await channel.receive() == 1
    await asyncio.wait_for(sending, timeout=1)
    assert [await channel.receive(), await channel.receive()] == [2, 3]


async def test_items_come_out_in_order() -> None:
    channel = Channel[int](3)

    async def produce() -> None:
        for i in range(100):
            await channel.send(i)
        channel.close()

    producer = asyncio.create_task(produce())
    received = [item async for item in channel]
    await producer
    assert received == list(range(100))


async def test_close_ends_the_stream_after_the_queue_drains() -> None:
    channel = Channel[str](4)
    for item in "abc":
        await channel.send(item)
    channel.close()
    assert channel.closed
    assert [await channel.receive() for _ in range(3)] == ["a", "b", "c"]
    with pytest.raises(EndOfStream):
        await channel.receive()
    with pytest.raises(EndOfStream):
        await channel.receive()  # and stays ended
    with pytest.raises(RuntimeError, match="send after close"):
        await channel.send("d")


async def test_async_for_ends_at_close() -> None:
    channel = Channel[int](4)
    await channel.send(1)
    await channel.send(2)
    channel.close()
    assert [item async for item in channel] == [1, 2]


async def test_close_wakes_a_waiting_receiver() -> None:
    channel = Channel[int](1)
    receiving = asyncio.create_task(channel.receive())
    assert await blocked(receiving)
    channel.close()
    with pytest.raises(EndOfStream):
        await asyncio.wait_for(receiving, timeout=1)


async def test_close_receiver_stops_a_blocked_sender_and_later_senders() -> None:
    channel = Channel[int](1)
    await channel.send(1)
    sending = asyncio.create_task(channel.send(2))
    assert await blocked(sending)
    channel.close_receiver()
    with pytest.raises(ReceiverClosed):
        await asyncio.wait_for(sending, timeout=1)
    with pytest.raises(ReceiverClosed):
        await channel.send(3)
    assert len(channel) == 0  # queued items were dropped


async def test_senders_blocked_on_a_full_channel_take_turns() -> None:
    """Several producers on one channel (the decoder's workers): none is starved by another."""
    channel = Channel[str](1)

    async def produce(name: str) -> None:
        for i in range(6):
            await channel.send(f"{name}{i}")

    producers = [asyncio.create_task(produce(name)) for name in "ab"]
    received = []
    for _ in range(12):
        await asyncio.sleep(0.01)  # a slow consumer: both producers are waiting at each receive
        received.append((await channel.receive())[0])
    await asyncio.gather(*producers)
    longest_run = max(len(list(run)) for _, run in itertools.groupby(received))
    assert longest_run <= 2, f"one producer kept the channel to itself: {''.join(received)}"


async def test_fail_raises_the_error_after_the_queue_drains() -> None:
    channel = Channel[int](4)
    await channel.send(1)
    await channel.send(2)
    error = ValueError("boom")
    channel.fail(error)
    channel.fail(KeyError("later failures are ignored"))
    assert [await channel.receive(), await channel.receive()] == [1, 2]
    with pytest.raises(ValueError, match="boom") as raised:
        await channel.receive()
    assert raised.value is error


async def test_fail_wakes_a_waiting_receiver() -> None:
    channel = Channel[int](1)
    receiving = asyncio.create_task(channel.receive())
    assert await blocked(receiving)
    channel.fail(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        await asyncio.wait_for(receiving, timeout=1)


async def test_receive_timeout() -> None:
    channel = Channel[int](1)
    with pytest.raises(TimeoutError):
        await channel.receive(timeout_s=SHORT_S)
    with pytest.raises(TimeoutError):
        await channel.receive(timeout_s=0)
    await channel.send(7)
    assert await channel.receive(timeout_s=0) == 7  # an item already there needs no wait
    assert channel.statistics().receive_blocked_s >= SHORT_S * 0.9


async def test_statistics_under_a_fast_producer_and_a_slow_consumer() -> None:
    channel = Channel[int](3, name="frames")
    depths: list[int] = []

    async def produce() -> None:
        for i in range(20):
            await channel.send(i)
            depths.append(channel.statistics().depth)
        channel.close()

    producer = asyncio.create_task(produce())
    received = []
    async for item in channel:
        received.append(item)
        depths.append(channel.statistics().depth)
        await asyncio.sleep(0.005)
    await producer

    stats = channel.statistics()
    assert received == list(range(20))
    assert stats.name == "frames"
    assert stats.capacity == 3
    assert max(depths) <= 3
    assert stats.max_depth == 3  # the producer filled it
    assert stats.depth == 0
    assert stats.items_in == stats.items_out == 20
    assert stats.closed
    assert stats.send_blocked_s > 0.02  # the producer waited for the consumer most of the time


async def test_statistics_count_as_items_move() -> None:
    channel = Channel[int](5)
    for i in range(4):
        await channel.send(i)
    await channel.receive()
    stats = channel.statistics()
    assert (stats.depth, stats.max_depth, stats.items_in, stats.items_out) == (3, 4, 4, 1)
    assert stats.send_blocked_s == 0.0
    assert not stats.closed


async def test_statistics_count_the_senders_waiting_in_line() -> None:
    channel = Channel[int](1)
    await channel.send(0)
    senders = [asyncio.create_task(channel.send(i)) for i in (1, 2)]
    await asyncio.sleep(0)  # each sender runs once, up to its wait for room
    assert channel.statistics().senders_waiting == 2
    assert await channel.receive() == 0
    await asyncio.sleep(0)
    assert channel.statistics().senders_waiting == 1  # the first in line put its item in
    assert [await channel.receive(), await channel.receive()] == [1, 2]
    await asyncio.gather(*senders)
    assert channel.statistics().senders_waiting == 0


# ---------------------------------------------------------------------------------------------
# Actor


class Doubler(Actor[int, int]):
    name = "doubler"

    def __init__(self, inbox: Channel[int], outbox: Channel[int]) -> None:
        super().__init__(inbox, outbox)
        self.ends = 0
        self.seen_at_end: list[int] = []
        self.seen: list[int] = []

    async def on_item(self, item: int) -> None:
        self.seen.append(item)
        await self.emit(item * 2)

    async def on_end(self) -> None:
        self.ends += 1
        self.seen_at_end = list(self.seen)
        await self.emit(-1)  # a flush at end of stream still reaches downstream


async def feed(channel: Channel[T], items: list[T]) -> None:
    for item in items:
        await channel.send(item)
    channel.close()


async def test_actor_closes_its_outbox_and_calls_on_end_once() -> None:
    inbox, outbox = Channel[int](2), Channel[int](2)
    actor = Doubler(inbox, outbox)
    async with asyncio.TaskGroup() as group:
        group.create_task(feed(inbox, [1, 2, 3, 4, 5]))
        group.create_task(actor.run())
        received = [item async for item in outbox]
    assert received == [2, 4, 6, 8, 10, -1]
    assert actor.ends == 1
    assert actor.seen_at_end == [1, 2, 3, 4, 5]  # on_end ran after the whole stream
    assert outbox.closed
    with pytest.raises(EndOfStream):
        await outbox.receive()
    stats = actor.statistics()
    assert (stats["name"], stats["items_in"], stats["items_out"]) == ("doubler", 5, 6)


async def test_actor_stops_quietly_when_downstream_closes() -> None:
    inbox, outbox = Channel[int](2), Channel[int](2)
    actor = Doubler(inbox, outbox)
    running = asyncio.create_task(actor.run())
    await inbox.send(1)
    assert await outbox.receive() == 2
    outbox.close_receiver()
    await inbox.send(2)  # the actor's emit of this one finds the receiver gone
    await asyncio.wait_for(running, timeout=1)  # returns without an exception
    assert actor.ends == 0
    with pytest.raises(ReceiverClosed):
        await inbox.send(3)  # upstream is told to stop


async def test_actor_stops_when_downstream_closes_while_it_is_blocked_on_a_full_outbox() -> None:
    inbox, outbox = Channel[int](4), Channel[int](1)
    actor = Doubler(inbox, outbox)
    for item in (1, 2, 3):
        await inbox.send(item)
    running = asyncio.create_task(actor.run())
    assert await blocked(running)  # outbox full: the actor waits for room
    outbox.close_receiver()
    await asyncio.wait_for(running, timeout=1)
    with pytest.raises(ReceiverClosed):
        await inbox.send(4)


async def test_actor_closes_its_ends_when_cancelled() -> None:
    inbox, outbox = Channel[int](2), Channel[int](2)
    running = asyncio.create_task(Doubler(inbox, outbox).run())
    assert await blocked(running)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert outbox.closed
    with pytest.raises(ReceiverClosed):
        await inbox.send(1)


# ---------------------------------------------------------------------------------------------
# PoolActor

Item = tuple[str, int]  # (group, n); n < 0 marks a marker


class SleepyPool(PoolActor[Item, Item]):
    name = "sleepy_pool"

    def __init__(self, inbox: Channel[Item], outbox: Channel[Item], *, workers: int, seed: int = 0) -> None:
        super().__init__(inbox, outbox, workers=workers)
        self.random = random.Random(seed)
        self.running = 0
        self.max_running = 0
        self.finished: list[Item] = []

    def group_of(self, item: Item) -> Hashable:
        return item[0]

    def is_marker(self, item: Item) -> bool:
        return item[1] < 0

    async def handle(self, item: Item) -> None:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.random.uniform(0.0, 0.02))
        finally:
            self.running -= 1
        self.finished.append(item)
        await self.emit(item)


async def run_pool(pool: SleepyPool, items: list[Item]) -> list[Item]:
    async with asyncio.TaskGroup() as group:
        group.create_task(feed(pool.inbox, items))
        group.create_task(pool.run())
        return [item async for item in pool.outbox]


def test_pool_rejects_zero_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        SleepyPool(Channel(1), Channel(1), workers=0)


async def test_pool_handles_at_most_workers_items_at_once() -> None:
    pool = SleepyPool(Channel(8), Channel(8), workers=3)
    items = [("a", i) for i in range(30)]
    received = await run_pool(pool, items)
    assert pool.max_running == 3
    assert sorted(received) == sorted(items)
    assert pool.statistics()["in_flight"] == 0


async def test_pool_passes_a_marker_only_after_the_earlier_items_of_its_group() -> None:
    pool = SleepyPool(Channel(4), Channel(4), workers=3, seed=1)
    items: list[Item] = []
    for i in range(12):
        items += [("a", i), ("b", i)]
        if i % 4 == 3:
            items += [("a", -i), ("b", -i)]
    received = await run_pool(pool, items)

    handled = list(pool.finished)
    assert handled != [item for item in items if item[1] >= 0], "items should finish out of order"
    assert sorted(received) == sorted(items)
    for position, item in enumerate(received):
        if item[1] >= 0:
            continue
        group, marker_at = item[0], items.index(item)
        earlier = {x for x in items[:marker_at] if x[0] == group and x[1] >= 0}
        assert earlier <= set(received[:position]), f"marker {item} passed before {earlier}"
    for group in "ab":
        markers = [item for item in received if item[0] == group and item[1] < 0]
        assert markers == [item for item in items if item[0] == group and item[1] < 0]


async def test_pool_passes_a_marker_of_an_idle_group_at_once() -> None:
    inbox, outbox = Channel[Item](4), Channel[Item](4)
    pool = SlowPool(inbox, outbox, workers=2)
    running = asyncio.create_task(pool.run())
    await inbox.send(("a", 1))  # held in a worker until released
    await inbox.send(("b", -1))  # group b has nothing in flight
    assert await asyncio.wait_for(outbox.receive(), timeout=1) == ("b", -1)
    await inbox.send(("a", -1))  # group a has: held back
    with pytest.raises(TimeoutError):
        await outbox.receive(timeout_s=SHORT_S)
    pool.release.set()
    inbox.close()
    assert [item async for item in outbox] == [("a", 1), ("a", -1)]
    await running


class SlowPool(PoolActor[Item, Item]):
    name = "slow_pool"

    def __init__(self, inbox: Channel[Item], outbox: Channel[Item], *, workers: int) -> None:
        super().__init__(inbox, outbox, workers=workers)
        self.release = asyncio.Event()

    def group_of(self, item: Item) -> Hashable:
        return item[0]

    def is_marker(self, item: Item) -> bool:
        return item[1] < 0

    async def handle(self, item: Item) -> None:
        await self.release.wait()
        await self.emit(item)


async def test_pool_stops_quietly_when_downstream_closes() -> None:
    inbox, outbox = Channel[Item](4), Channel[Item](1)
    pool = SlowPool(inbox, outbox, workers=2)
    pool.release.set()
    running = asyncio.create_task(pool.run())
    for i in range(3):
        await inbox.send(("a", i))
    assert await blocked(running)  # outbox full: workers wait for room
    outbox.close_receiver()
    await asyncio.wait_for(running, timeout=1)  # returns without an exception
    assert outbox.closed
    with pytest.raises(ReceiverClosed):
        await inbox.send(("a", 9))


async def test_pool_raises_a_worker_error_itself() -> None:
    class Failing(SlowPool):
        async def handle(self, item: Item) -> None:
            raise ValueError(f"bad {item}")

    inbox, outbox = Channel[Item](4), Channel[Item](4)
    await inbox.send(("a", 1))
    with pytest.raises(ValueError, match="bad"):
        await asyncio.wait_for(Failing(inbox, outbox, workers=2).run(), timeout=1)
    assert outbox.closed


# ---------------------------------------------------------------------------------------------
# run_actors


class Waiter:
    """An actor that waits forever and records that its cleanup ran."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = False
        self.cleaned_up = False
        self.cancelled = False

    async def run(self) -> None:
        self.started = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.cleaned_up = True

    def statistics(self) -> dict[str, object]:
        return {"name": self.name}


class Crasher(Waiter):
    async def run(self) -> None:
        await asyncio.sleep(0.01)
        raise ValueError("broken frame")


async def test_run_actors_raises_the_failing_actors_own_error_with_a_note() -> None:
    waiters = [Waiter("decoder"), Waiter("transcoder")]
    crasher = Crasher("shot_detector")
    with pytest.raises(ValueError, match="broken frame") as raised:
        await asyncio.wait_for(run_actors([waiters[0], crasher, waiters[1]]), timeout=5)
    assert type(raised.value) is ValueError  # not an ExceptionGroup
    assert any("shot_detector" in note for note in raised.value.__notes__)
    for waiter in waiters:
        assert waiter.started
        assert waiter.cancelled
        assert waiter.cleaned_up


async def test_run_actors_returns_when_every_actor_finishes() -> None:
    inbox, middle, outbox = Channel[int](2), Channel[int](2), Channel[int](2)
    first, second = Doubler(inbox, middle), Doubler(middle, outbox)
    received: list[int] = []

    async def consume() -> None:
        received.extend([item async for item in outbox])

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(asyncio.gather(feed(inbox, [1, 2, 3]), run_actors([first, second])), timeout=5)
    await consumer
    assert received == [4, 8, 12, -2, -1]


# ---------------------------------------------------------------------------------------------
# Hardening: bookkeeping that shrinks, crashes that surface, cancellation that is clean


async def test_a_thousand_videos_leave_no_bookkeeping_behind() -> None:
    """A long-running daemon's pools saw one entry per video stay forever (a marker of a group
    with nothing in flight was looked up in a defaultdict, which inserted it)."""
    pool = SleepyPool(Channel(8), Channel(8), workers=3)
    items: list[Item] = []
    for video in range(1000):
        if video % 2:
            items.append((f"v{video}", 0))  # one span, then the end of the video
        items.append((f"v{video}", -1))  # every video ends; half of them had no span at all
    received = await run_pool(pool, items)
    assert sorted(received) == sorted(items)
    assert pool._in_flight == {}
    assert pool._held_markers == {}


class Exploding(Actor[int, int]):
    name = "exploding"

    async def on_item(self, item: int) -> None:
        if item == 2:
            raise ValueError("broken item")
        await self.emit(item)


async def test_a_crashed_actor_fails_its_outbox_instead_of_ending_it() -> None:
    inbox, outbox = Channel[int](4), Channel[int](4)
    for item in (1, 2):
        await inbox.send(item)
    with pytest.raises(ValueError, match="broken item"):
        await Exploding(inbox, outbox).run()
    assert await outbox.receive() == 1
    with pytest.raises(ValueError, match="broken item"):  # not EndOfStream: downstream sees the crash
        await outbox.receive()


async def test_a_sender_cancelled_after_its_turn_came_puts_nothing_in() -> None:
    channel = Channel[int](1)
    await channel.send(1)
    late = asyncio.create_task(channel.send(2))
    after = asyncio.create_task(channel.send(3))
    await asyncio.sleep(0)  # both wait in line
    assert await channel.receive() == 1  # room: `late` is woken ...
    late.cancel()  # ... and cancelled before it ran
    with pytest.raises(asyncio.CancelledError):
        await late
    await asyncio.wait_for(after, timeout=1)  # its turn went to the next sender
    assert await channel.receive() == 3
    assert len(channel) == 0  # 2 was never put in: a cancelled send sent nothing


async def test_every_error_of_a_pool_surfaces() -> None:
    class CleanupFails(SlowPool):
        async def handle(self, item: Item) -> None:
            if item[1] == 2:
                raise ValueError("bad item 2")
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                raise RuntimeError("cleanup of item 1 failed") from None

    inbox, outbox = Channel[Item](4), Channel[Item](4)
    for item in (("a", 1), ("a", 2)):
        await inbox.send(item)
    with pytest.raises(ValueError, match="bad item 2") as raised:
        await asyncio.wait_for(CleanupFails(inbox, outbox, workers=2).run(), timeout=1)
    assert any("RuntimeError: cleanup of item 1 failed" in note for note in raised.value.__notes__)


async def test_closing_waits_for_the_actors_however_often_it_is_cancelled() -> None:
    """A second cancel while closing skipped the wait: the work folder went while ffmpeg children
    were still being reaped."""
    reaped = asyncio.Event()
    release = asyncio.Event()

    async def actors() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(release.wait())  # reaping children takes a while
            reaped.set()

    runner = asyncio.create_task(actors())
    await asyncio.sleep(0)

    seen: list[bool] = []

    async def close() -> None:
        runner.cancel()
        try:
            await wait_out(runner)
        finally:
            seen.append(reaped.is_set())  # what the work folder's removal would see

    closing = asyncio.create_task(close())
    for _ in range(3):
        assert await blocked(closing)
        closing.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):  # the cancel is not swallowed, only put off
        await asyncio.wait_for(closing, timeout=1)
    assert seen == [True]


async def test_a_cancelled_threaded_write_finishes_before_the_cancel_goes_on() -> None:
    started, go_on = threading.Event(), threading.Event()
    finished: list[str] = []

    def write() -> None:
        started.set()
        go_on.wait(timeout=10)
        finished.append("written")

    writing = asyncio.create_task(in_thread(write))
    await asyncio.to_thread(started.wait, 10)
    writing.cancel()
    assert await blocked(writing)  # still waiting for the thread
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(writing, timeout=5)
    assert finished == ["written"]
