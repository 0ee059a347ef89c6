"""`streamclip report OUT`: write the review site of an output folder (wired in by `streamclip.cli`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streamclip.errors import ConfigError
from streamclip.review.site import ReportResult, build_report


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    report = commands.add_parser("report", help="write a review site of an output folder into OUT/report/")
    report.add_argument("output", type=Path, metavar="OUT", help="an output folder of split, watch or serve")
    report.add_argument("--force", action="store_true", help="remake every page (thumbnails are still reused)")
    report.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


def run(args: argparse.Namespace) -> int:
    out: Path = args.output
    if not (out / "processed_videos").is_dir():
        raise ConfigError(f"{out} is not a streamclip output folder (no processed_videos/ in it)")
    show = sys.stderr.isatty() and not args.no_progress
    result = asyncio.run(_build(out, force=args.force, show_progress=show))
    print(
        f"streamclip: review site of {result.videos} video(s) in {result.index} "
        f"({len(result.rebuilt)} page(s) made, {result.videos - len(result.rebuilt)} unchanged)",
        file=sys.stderr,
    )
    return 0


async def _build(out: Path, *, force: bool, show_progress: bool) -> ReportResult:
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=not show_progress, transient=True,
    )  # fmt: skip
    task = bar.add_task("review pages", total=None)
    with bar:
        return await build_report(
            out,
            force=force,
            on_start=lambda n: bar.update(task, total=n),
            on_step=lambda _rel: bar.advance(task),
        )
