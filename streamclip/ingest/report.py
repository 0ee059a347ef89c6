"""What the daemon tells a person: one line per finished file, or a live status line on a terminal.

`LineReporter` writes plain lines (for `serve` under systemd, and `watch` when stderr is not a
terminal). `TerminalReporter` adds a live status line (done, failed, in flight, clips/s) under
the same per-file lines.
"""

from __future__ import annotations

import sys
import time
from typing import Literal, TextIO

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Outcome = Literal["done", "failed", "quarantined"]


class FileOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A source finished (or set aside) by the daemon."""

    rel: str
    outcome: Outcome
    clips: int = 0
    seconds: float = 0.0
    reason: str = ""  # why it failed or was quarantined; a note for a done file
    kind: str = ""  # the failure's kind (streamclip.errors.Reason), as `split` and `status` print it


class Tally:
    """Counts for the status line and the closing summary."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.outcomes: dict[str, int] = dict.fromkeys(("done", "failed", "quarantined", "skipped"), 0)
        self.clips = 0

    def line(self, in_flight: int) -> str:
        """'3 done, 1 quarantined; 2 in flight; 12 clip(s) (0.85/s)' (zero counts other than done left out)."""
        counts = [f"{n} {what}" for what, n in self.outcomes.items() if n or what == "done"]
        rate = self.clips / max(time.monotonic() - self.started, 1e-6)
        return f"{', '.join(counts)}; {in_flight} in flight; {self.clips} clip(s) ({rate:.2f}/s)"


class LineReporter:
    """One line per finished file on `out`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tally = Tally()

    def __enter__(self) -> LineReporter:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def say(self, text: str) -> None:
        self.out.write(f"streamclip: {text}\n")
        self.out.flush()

    def clip(self) -> None:
        self.tally.clips += 1

    def skipped(self, line: str = "") -> None:
        self.tally.outcomes["skipped"] += 1
        if line:
            self.say(f"skipped {line}")

    def finished(self, done: FileOutcome) -> None:
        self.tally.outcomes[done.outcome] += 1
        self.say(describe(done))

    def progress(self, in_flight: int) -> None:
        """The counts changed (a plain log has no status line to update)."""

    def summary(self, unfinished: int) -> str:
        line = self.tally.line(unfinished).replace("in flight", "unfinished")
        return f"stopped after {time.monotonic() - self.tally.started:.1f} s: {line}"


class TerminalReporter(LineReporter):
    """Per-file lines above a live status line (rich), on stderr."""

    def __init__(self, description: str) -> None:
        console = Console(stderr=True)
        super().__init__(sys.stderr)
        self.console = console
        self.description = description
        self._bar = Progress(
            SpinnerColumn(), TextColumn("[bold]streamclip[/] {task.description}", markup=True), TimeElapsedColumn(),
            console=console, transient=True,
        )  # fmt: skip
        self._task = self._bar.add_task(self._status(0), total=None)

    def __enter__(self) -> TerminalReporter:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def say(self, text: str) -> None:
        self.console.print(f"streamclip: {text}", highlight=False, markup=False)

    def progress(self, in_flight: int) -> None:
        self._bar.update(self._task, description=self._status(in_flight))

    def _status(self, in_flight: int) -> str:
        return escape(f"{self.description}: {self.tally.line(in_flight)}")


def describe(done: FileOutcome) -> str:
    if done.outcome == "done":
        note = f" ({done.reason})" if done.reason else ""
        return f"done {done.rel}: {done.clips} clip(s) in {done.seconds:.1f} s{note}"
    kind = f" [{done.kind}]" if done.kind else ""
    return f"{done.outcome.upper()} {done.rel}{kind}: {done.reason}"
