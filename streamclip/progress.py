"""The terminal display for `streamclip split`, fed by events and the pipeline's statistics()."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from streamclip.backend import EventPipeline
from streamclip.contract.stats import PipelineStats
from streamclip.contract.types import ClipReady, Event


async def keep_refreshing(progress: Progress, pipe: EventPipeline, every_s: float = 0.5) -> None:
    while True:
        progress.refresh(pipe.statistics())
        await asyncio.sleep(every_s)


class Progress:
    """One bar for the run (videos done, clips, clips/s) and one per video being decoded (frames)."""

    def __init__(self, total_videos: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.clips = 0
        self.videos = 0
        self._bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
            console=Console(stderr=True), disable=not enabled, transient=False,
        )  # fmt: skip
        self._run = self._bar.add_task("[bold]videos", total=total_videos, detail="")
        self._per_video: dict[str, TaskID] = {}

    def __enter__(self) -> Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.__exit__(kind, exc, tb)

    def update(self, event: Event) -> None:
        if isinstance(event, ClipReady):
            self.clips += 1
        else:
            self.videos += 1
            self._drop(event.source)
        rate = self.clips / max(time.monotonic() - self.started, 1e-6)
        self._bar.update(self._run, completed=self.videos, detail=f"{self.clips} clips ({rate:.2f}/s)")

    def refresh(self, stats: PipelineStats) -> None:
        """Per-video bars from the decoder's statistics (called periodically; on Ray, the workers')."""
        if stats.decoder is None:
            return
        for source, (decoded, expected) in stats.decoder.videos.items():
            if source not in self._per_video:
                name = Path(source).name
                self._per_video[source] = self._bar.add_task(f"  {name[:40]}", total=expected or None, detail="frames")
            live = not expected and stats.decoder.live_sources  # a live source: no total, a lag
            detail = f"frames, {stats.decoder.lag_s:.1f} s behind live" if live else "frames"
            self._bar.update(self._per_video[source], completed=decoded, detail=detail)

    def _drop(self, source: str) -> None:
        task = self._per_video.pop(source, None)
        if task is not None:
            self._bar.remove_task(task)
