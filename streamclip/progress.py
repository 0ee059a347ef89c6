"""The terminal display for `streamclip split`, fed by events and the pipeline's statistics()."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from streamclip.types import ClipReady, Event


class Progress:
    """Videos done of total, clips written, clips/s and the decoder's frame count; silent when disabled."""

    def __init__(self, total_videos: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.clips = 0
        self.videos = 0
        self._bar = RichProgress(
            TextColumn("[bold]streamclip"), BarColumn(), MofNCompleteColumn(), TextColumn("videos"),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
            console=Console(stderr=True), disable=not enabled, transient=False,
        )  # fmt: skip
        self._task = self._bar.add_task("split", total=total_videos, detail="")

    def __enter__(self) -> Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.__exit__(kind, exc, tb)

    def update(self, event: Event, stats: dict[str, Any]) -> None:
        if isinstance(event, ClipReady):
            self.clips += 1
        else:
            self.videos += 1
        rate = self.clips / max(time.monotonic() - self.started, 1e-6)
        frames = stats["actors"].get("decoder", {}).get("frames_decoded", 0)
        detail = f"{self.clips} clips ({rate:.2f}/s), {frames} frames decoded"
        self._bar.update(self._task, completed=self.videos, detail=detail)
