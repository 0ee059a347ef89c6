"""`streamclip report OUT`: write the review site of an output folder or `s3://bucket/prefix`
(wired in by `streamclip.cli`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streamclip.errors import ConfigError, UsageError
from streamclip.review import s3site
from streamclip.review.site import REPORT_DIR, ReportResult, build_report
from streamclip.storage import s3


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    report = commands.add_parser("report", help="write a review site of an output folder into OUT/report/")
    report.add_argument(
        "output", metavar="OUT", help="an output folder of split, watch or serve, or an s3://bucket/prefix output"
    )
    report.add_argument(
        "--cache", type=Path, metavar="DIR",
        help="s3:// only: keep the mirrored records and the site here between runs (default: a temporary folder)",
    )  # fmt: skip
    report.add_argument("--force", action="store_true", help="remake every page (thumbnails are still reused)")
    report.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


def run(args: argparse.Namespace) -> int:
    show = sys.stderr.isatty() and not args.no_progress
    if s3.is_s3(args.output):
        return _run_s3(args, show)
    if args.cache is not None:
        raise UsageError("--cache is for an s3:// output (a folder's site is built in place)")
    out = Path(args.output)
    if not (out / "processed_videos").is_dir():
        raise ConfigError(f"{out} is not a streamclip output folder (no processed_videos/ in it)")
    result, _ = asyncio.run(_build(out, force=args.force, show_progress=show))
    _say(result, str(result.index))
    return 0


def _run_s3(args: argparse.Namespace, show: bool) -> int:
    try:
        url = s3.parse(args.output).url.rstrip("/")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        with s3site.cache_folder(args.cache) as cache:
            result, uploaded = asyncio.run(_build(cache, force=args.force, show_progress=show, s3_url=url))
    except s3.StorageError as exc:
        raise UsageError(f"cannot make the review site: {exc}") from None
    _say(result, f"{url}/{REPORT_DIR}/index.html", f", {uploaded} file(s) uploaded")
    return 0


def _say(result: ReportResult, index: str, extra: str = "") -> None:
    print(
        f"streamclip: review site of {result.videos} video(s) in {index} "
        f"({len(result.rebuilt)} page(s) made, {result.videos - len(result.rebuilt)} unchanged{extra})",
        file=sys.stderr,
    )


async def _build(out: Path, *, force: bool, show_progress: bool, s3_url: str | None = None) -> tuple[ReportResult, int]:
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=not show_progress, transient=True,
    )  # fmt: skip
    task = bar.add_task("review pages", total=None)
    options: dict[str, Any] = {
        "force": force,
        "on_start": lambda n: bar.update(task, total=n),
        "on_step": lambda _rel: bar.advance(task),
    }
    with bar:
        if s3_url is not None:
            return await s3site.build_s3_report(s3_url, out, **options)
        return await build_report(out, **options), 0
