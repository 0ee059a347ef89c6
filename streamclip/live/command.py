"""`streamclip split` with live inputs: which inputs are live, `--duration`, and ending on a signal.

The first SIGINT or SIGTERM ends every live source as if its sender had stopped: the scene in
progress is closed at the last frame read, its clip written, then the usual summary and exit
status. A second one interrupts at once (exit 130, as for files).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from streamclip.errors import UsageError
from streamclip.live.session import is_live
from streamclip.local import Pipeline


@dataclass(frozen=True)
class LiveInput:
    url: str  # "-" or a stream URL
    duration_s: float | None = None


def live_inputs(inputs: Sequence[str], on_ray: bool, duration_s: float | None) -> tuple[list[str], list[str]]:
    """(live inputs, file and folder inputs); a usage error for what cannot be done with them."""
    live = [text for text in inputs if is_live(text)]
    if live.count("-") > 1:
        raise UsageError("'-' (standard input) can be given once")
    if live and on_ray:
        raise UsageError("live inputs ('-', stream URLs) are read in this process: not with --ray")
    if duration_s is not None and (not live or duration_s <= 0):
        raise UsageError("--duration takes seconds > 0 and applies to live inputs ('-', stream URLs)")
    return live, [text for text in inputs if not is_live(text)]


async def submit_live(pipe: object, video: LiveInput) -> None:
    if not isinstance(pipe, Pipeline):
        raise UsageError("live inputs need the local pipeline")
    await pipe.submit(video.url, duration_s=video.duration_s)


def stop_live_on_signals(pipe: object) -> None:
    """The first SIGINT/SIGTERM ends the live sources; the next one is the default (interrupt)."""
    if not isinstance(pipe, Pipeline):
        return
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        print("streamclip: ending the live sources (again to interrupt)", file=sys.stderr, flush=True)
        pipe.stop_live()
        for each in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(each)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
