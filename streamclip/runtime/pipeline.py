"""Runs a set of actors in one task group and surfaces the first real error once, with context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, TypeVar

from streamclip.runtime.channel import Channel, EndOfStream

T = TypeVar("T")


class Runnable(Protocol):
    name: str

    async def run(self) -> None: ...

    def statistics(self) -> dict[str, Any]: ...


async def run_actors(actors: Sequence[Runnable]) -> None:
    """Run every actor to completion; if one fails, cancel the rest and raise its error.

    The error is the actor's own exception (not a group), with a note naming the actor.
    """
    try:
        async with asyncio.TaskGroup() as group:
            for actor in actors:
                group.create_task(_named(actor), name=actor.name)
    except BaseExceptionGroup as failed:
        first = _first_real(failed)
        raise first from None


async def _named(actor: Runnable) -> None:
    try:
        await actor.run()
    except Exception as exc:
        exc.add_note(f"in streamclip actor {actor.name!r}")
        raise


def _first_real(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_real(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]


async def until_end(events: Channel[T], runner: asyncio.Task[None] | None) -> AsyncIterator[T]:
    """The items of `events` until its end; then, if `runner` crashed (an early end), its error."""
    while True:
        try:
            yield await events.receive()
        except EndOfStream:
            break
    if runner is not None:
        await asyncio.wait([runner])
        if not runner.cancelled() and runner.exception() is not None:
            raise runner.exception()  # type: ignore[misc]
