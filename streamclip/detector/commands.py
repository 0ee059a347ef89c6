"""`streamclip models`: list the prepared detector models; `streamclip models prepare`: make them ahead of time.

    streamclip models [--cache-dir DIR]
    streamclip models prepare [--precision fp32|bf16|int8]... [--cache-dir DIR]

Preparing ahead of time is for images, offline nodes and Ray workers: a pipeline whose model is
not cached prepares it on first use (seconds, and it imports torch once to do so).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from streamclip.detector.models import CachedModel, cache_root, list_cached, model_kind, prepare

COMMANDS = ("models",)


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    models = commands.add_parser("models", help="list the prepared OpenVINO detector models (see `models prepare`)")
    models.add_argument("--cache-dir", default="", help="cache folder (default: $STREAMCLIP_CACHE_DIR or ~/.cache)")
    actions = models.add_subparsers(dest="models_command")
    make = actions.add_parser("prepare", help="export and quantise the detector models now (once per machine)")
    make.add_argument(
        "--precision",
        action="append",
        choices=["fp32", "bf16", "int8"],
        help="the precision to prepare for (repeatable; default: fp32 and int8, what the bundled profiles run)",
    )
    make.add_argument("--cache-dir", default="", help="cache folder (default: $STREAMCLIP_CACHE_DIR or ~/.cache)")


def run(args: argparse.Namespace) -> int:
    if args.models_command == "prepare":
        return _prepare(args.precision or ["fp32", "int8"], args.cache_dir)
    return _list(args.cache_dir)


def _prepare(precisions: list[str], cache_dir: str) -> int:
    for kind in dict.fromkeys(model_kind(p) for p in precisions):  # bf16 runs the fp32 model
        started = time.monotonic()
        model = prepare(kind, cache_dir)
        print(f"{kind:5} {model.key}  ({_mib(model)}, {time.monotonic() - started:.1f} s)")
    return 0


def _list(cache_dir: str) -> int:
    root = cache_root(cache_dir)
    models = list_cached(cache_dir)
    print(f"model cache: {root / 'models'}")
    if not models:
        print("no prepared models (`streamclip models prepare` makes them; a pipeline does on first use)")
    for model in models:
        print(
            f"{model.info.get('kind', '?'):5} {_mib(model):>9}  {model.key}  created {model.info.get('created', '?')}"
        )
    return 0


def _mib(model: CachedModel) -> str:
    return f"{model.size_bytes / 2**20:.1f} MiB"
