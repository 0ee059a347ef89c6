"""Stopping the daemon: signals, the drain, and what is left in flight when it ends.

SIGTERM or SIGINT stops intake and lets the videos in flight finish for up to `drain_timeout_s`;
a second signal (or `stop(hurry=True)`) cuts the drain short. Whatever is still in flight then is
cancelled with the pipeline and goes back to `queued` in the ledger, so the next start resumes it
without counting a death on that file.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from streamclip.backend import EventPipeline
from streamclip.ingest.context import DaemonContext
from streamclip.ingest.report import LineReporter
from streamclip.ingest.streams import StreamSupervisor
from streamclip.storage.poller import Watching

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopping:
    def __init__(self, reporter: LineReporter) -> None:
        self.requested = asyncio.Event()
        self.hurry = asyncio.Event()
        self._reporter = reporter

    def stop(self, *, hurry: bool = False) -> None:
        """Begin the drain (or, with `hurry` or a second call, cut it short)."""
        if self.requested.is_set() or hurry:
            self.hurry.set()
        self.requested.set()

    @contextmanager
    def on_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            yield
        finally:
            for signum in SIGNALS:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            self._reporter.say(f"{name} again: cancelling now")
        else:
            self._reporter.say(f"{name}: no new files; finishing the videos in flight")
        self.stop()


async def drain(
    ctx: DaemonContext,
    stopping: Stopping,
    pipe: EventPipeline,
    watcher: Watching,
    streams: StreamSupervisor,
    tasks: set[asyncio.Task[None]],
) -> None:
    """Stop intake, let the videos in flight finish for up to `drain_timeout_s`, then return."""
    ctx.metrics.draining.set(1)
    by_name = {task.get_name(): task for task in tasks}
    watcher.stop()
    streams.stop()
    pipe.stop_live()  # a stream's scene in progress is closed at its last frame and its clip written
    intake = [by_name["intake"], by_name["watcher"], by_name["streams"]]
    for task in intake:
        task.cancel()
    await asyncio.wait(intake)
    pipe.close_input()
    events, timeout_s = by_name["events"], ctx.config.drain_timeout_s
    if len(ctx.flights) and not events.done():
        ctx.reporter.say(f"draining: {len(ctx.flights)} video(s) in flight, up to {timeout_s:g} s")
    hurry = asyncio.create_task(stopping.hurry.wait())
    await asyncio.wait([events, hurry], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    hurry.cancel()
    if not events.done():  # the sources left go back to `queued` as the daemon stops
        why = "drain cut short" if stopping.hurry.is_set() else "drain time over"
        ctx.reporter.say(f"{why}: cancelling {', '.join(ctx.flights.rels())}; resumed at the next start")


def requeue_in_flight(ctx: DaemonContext, *, crashed: bool) -> None:
    """Sources still in flight as the daemon stops (a drain cut short, or a part of the daemon
    failed) go back to `queued`: not counted as a death on that file."""
    note = "interrupted: a part of the daemon failed" if crashed else "interrupted by a shutdown"
    for path in ctx.flights:
        ctx.ledger.interrupt(path, note=note)
