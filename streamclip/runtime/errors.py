"""Surfacing every error of a task group: the first is raised, the others are logged and noted on it.

A group of actors that fails raises one error, not a group (one error is what a caller can act
on), but a second, different error is never silently dropped: it is logged with its traceback
and named in a note on the error raised.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NoReturn

log = logging.getLogger("streamclip")


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in `group` and its subgroups, each object once, in order."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        for leaf in leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]:
            if not any(leaf is seen for seen in found):  # one error can reach several tasks
                found.append(leaf)
    return found


def raise_all(group: BaseExceptionGroup[BaseException], *, where: str) -> NoReturn:
    """Raise the first real error of `group` (a cancellation only if there is nothing else);
    log every other one and name it in a note on the one raised."""
    errors = leaves(group)
    real = [exc for exc in errors if not isinstance(exc, asyncio.CancelledError)] or errors
    first, others = real[0], real[1:]
    for other in others:
        log.error("%s: a further error: %s", where, other, exc_info=other)
        first.add_note(f"{where} also failed: {type(other).__name__}: {other}")
    raise first from None
