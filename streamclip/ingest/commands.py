"""The `watch`, `serve` and `status` subcommands of `streamclip` (wired in by `streamclip.cli`).

    streamclip watch DIR... -o OUT [--profile NAME|FILE] [--set SECTION.KEY=VALUE]...
    streamclip serve --config FILE
    streamclip status [--config FILE | -o OUT]

`watch` and `serve` run until SIGTERM or SIGINT, drain, and exit 0 (1 if a part of the daemon
failed, 2 for a configuration error).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from streamclip.errors import ConfigError
from streamclip.ingest.config import ServeConfig, default_ledger, load_serve_config
from streamclip.ingest.daemon import serve
from streamclip.ingest.ledger import Ledger
from streamclip.ingest.report import LineReporter, TerminalReporter
from streamclip.ingest.status import status_report
from streamclip.storage.outputs import check_output

CONFIG_ENV = "STREAMCLIP_CONFIG"
COMMANDS = ("watch", "serve", "status")


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `watch`, `serve` and `status` to the `streamclip` subparsers."""
    watch = commands.add_parser("watch", help="process videos as they arrive in folders (foreground)")
    watch.add_argument(
        "folders", nargs="+", metavar="DIR", help="folders (recursively) or s3://bucket/prefix/ to watch"
    )
    watch.add_argument("-o", "--output", required=True, help="output folder or s3://bucket/prefix (then --ledger)")
    watch.add_argument("--profile", default="default", help="profile name or TOML file")
    watch.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one setting (repeatable)",
    )  # fmt: skip
    defaults = ServeConfig(watch=["."], output=".")
    watch.add_argument("--settle-s", type=float, default=defaults.settle_s, help="seconds a file must stay unchanged")
    watch.add_argument("--rescan-s", type=float, default=defaults.rescan_s, help="seconds between full rescans")
    watch.add_argument("--max-in-flight", type=int, default=defaults.max_videos_in_flight, help="videos at once")
    watch.add_argument("--drain-timeout-s", type=float, default=defaults.drain_timeout_s, help="drain limit on stop")
    watch.add_argument(
        "--ledger",
        default="",
        metavar="PATH",
        help="ledger file (default OUT/.streamclip/ledger.sqlite; a local disk)",
    )
    watch.add_argument("--quarantine-dir", default="", help="move bad files here (default: leave them in place)")
    watch.add_argument(
        "--symlinks", choices=["inside", "never", "follow"], default=defaults.symlinks,
        help="take a symlink only if its target is inside a watched folder (inside, the default), never, or always",
    )  # fmt: skip
    watch.add_argument("--metrics-address", default="", metavar="HOST:PORT", help="serve /metrics and /healthz")
    watch.add_argument("--no-progress", action="store_true", help="plain lines even on a terminal")
    watch.add_argument("--report", action="store_true", help="keep the review site OUT/report/ current")
    watch.add_argument(
        "--follow", action="store_true", help="start growing files (TS, MKV/WebM, FLV, fragmented MP4) while written"
    )

    serve_cmd = commands.add_parser("serve", help="run the ingest daemon from a TOML config")
    serve_cmd.add_argument("--config", required=True, type=Path, help="serve config (see examples/serve.toml)")

    status = commands.add_parser("status", help="summarise the ingest ledger and list failed files")
    where = status.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help=f"serve config (default: ${CONFIG_ENV})")
    where.add_argument("-o", "--output", type=Path, help="output folder of a `watch` run")


def run(args: argparse.Namespace) -> int:
    if args.command == "status":
        return _status(args)
    if args.command == "serve":
        config = load_serve_config(args.config)
        reporter = LineReporter(sys.stderr)
    else:
        config = _watch_config(args)
        reporter = (
            TerminalReporter("watching") if sys.stderr.isatty() and not args.no_progress else LineReporter(sys.stderr)
        )
    check_output(config.output)
    return asyncio.run(serve(config, reporter))


def _watch_config(args: argparse.Namespace) -> ServeConfig:
    try:
        return ServeConfig(
            watch=[_absolute(folder) for folder in args.folders],
            output=_absolute(args.output),
            profile=args.profile,
            overrides=args.overrides,
            settle_s=args.settle_s,
            rescan_s=args.rescan_s,
            max_videos_in_flight=args.max_in_flight,
            drain_timeout_s=args.drain_timeout_s,
            quarantine_dir=os.path.abspath(args.quarantine_dir) if args.quarantine_dir else "",
            metrics_address=args.metrics_address,
            report=args.report,
            symlinks=args.symlinks,
            ledger=os.path.abspath(args.ledger) if args.ledger else "",
            follow=args.follow,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _absolute(path: str) -> str:
    """A folder made absolute; an s3:// prefix as it is."""
    return path if path.lower().startswith("s3://") else os.path.abspath(path)


def _status(args: argparse.Namespace) -> int:
    if args.output is not None:
        path = default_ledger(args.output)
    else:
        config_file = args.config or os.environ.get(CONFIG_ENV)
        if not config_file:
            raise ConfigError(f"status needs --config FILE, -o OUT or ${CONFIG_ENV}")
        path = load_serve_config(config_file).ledger_path
    try:
        ledger = Ledger(path, create=False)
    except FileNotFoundError:
        print(f"streamclip: no ledger at {path} (nothing has been served there yet)", file=sys.stderr)
        return 1
    with ledger:
        sys.stdout.write(status_report(ledger))
    return 0
