"""Waiting for work that must end before we go on, however often the waiting task is cancelled.

A cancelled `await asyncio.to_thread(...)` returns at once while its thread runs on (writing into
a folder that is about to be removed), and a cancelled `await asyncio.wait([runner])` stops
waiting for the actors that are still reaping their ffmpeg children. These helpers wait for the
end first and re-raise the cancellation after it, so nothing is swallowed and nothing outlives
its owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_out(future: asyncio.Future[Any]) -> None:
    """Wait until `future` is done (its result or error is left to the caller); if this task was
    cancelled meanwhile, once or more, raise `CancelledError` afterwards."""
    interrupted = False
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            interrupted = True  # keep waiting: the work is still running
    if interrupted:
        raise asyncio.CancelledError


async def in_thread(func: Callable[..., T], /, *args: Any) -> T:
    """`asyncio.to_thread` that, when cancelled, waits for the thread to finish before raising."""
    future: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(func, *args))
    await wait_out(future)
    return future.result()
