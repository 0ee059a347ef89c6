"""Runs a set of actors in one task group and surfaces its errors once, with context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, TypeVar

from streamclip.runtime.channel import Channel, EndOfStream
from streamclip.runtime.errors import raise_all

T = TypeVar("T")


class Runnable(Protocol):
    name: str

    async def run(self) -> None: ...

    def statistics(self) -> dict[str, Any]: ...


async def run_actors(actors: Sequence[Runnable]) -> None:
    """Run every actor to completion; if one fails, cancel the rest and raise its error.

    The error is the actor's own exception (not a group), with a note naming the actor; a
    further, different error of another actor is logged and named in a note (`raise_all`).
    """
    try:
        async with asyncio.TaskGroup() as group:
            for actor in actors:
                group.create_task(_named(actor), name=actor.name)
    except BaseExceptionGroup as failed:
        raise_all(failed, where="streamclip pipeline")


_ACTOR_NOTE = "in streamclip actor"


async def _named(actor: Runnable) -> None:
    try:
        await actor.run()
    except Exception as exc:
        # An error passed downstream through failed channels reaches several actors: name the first.
        if not any(note.startswith(_ACTOR_NOTE) for note in getattr(exc, "__notes__", [])):
            exc.add_note(f"{_ACTOR_NOTE} {actor.name!r}")
        raise


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
