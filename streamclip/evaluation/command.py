"""`streamclip eval`: how well the configured detector finds the transitions of your own annotated videos.

    streamclip eval VIDEO... [--truth FILE] [--profile NAME] [--set detector.threshold=0.3]...

Each VIDEO needs its ground truth: `<stem>.truth.json` beside it, or `--truth FILE` with one video
(format: `streamclip.evaluation.truth`: the frames where each cut, dissolve, fade or wipe lies).
The detector runs as the profile and `--set` configure the pipeline (model, engine, precision,
threshold) on the frames the pipeline decodes, so the transition frames scored are the ones a split
cuts at. Scoring: TransNetV2's and AutoShot's published protocol (`streamclip.evaluation.scoring`).

Prints each video's F1, then precision, recall and F1 over all videos at tolerance 0 and ±2 frames,
per transition kind, and the detector's CPU seconds per minute of video. Exit status: 0; 1 when a
video could not be read; 2 for a usage error (no truth file, a bad one, a bad setting).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from streamclip.config import DetectorConfig, load_config
from streamclip.detector.engines import shot_probabilities
from streamclip.errors import StreamclipError, UsageError
from streamclip.evaluation.report import Tally, markdown_table
from streamclip.evaluation.scoring import shots_from_probabilities
from streamclip.evaluation.truth import GroundTruth, read_truth, truth_path
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import decode_argv
from streamclip.ffmpeg.probe import probe_sync

COMMANDS = ("eval",)
DECODE_TIMEOUT_S = 3600.0


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("eval", help="score the detector on videos annotated with their transitions")
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="videos, each with <stem>.truth.json beside it")
    parser.add_argument("--truth", type=Path, metavar="FILE", help="the ground truth of a single VIDEO")
    parser.add_argument("--profile", default="default", help="profile name or TOML file (see `streamclip profiles`)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set detector.threshold=0.3 (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    detector = load_config(args.profile, args.overrides).detector
    annotated = [(Path(video), truth) for video, truth in _truths(args.videos, args.truth)]
    tally = Tally(f"{detector.model} {detector.engine} {detector.precision} > {detector.threshold}")
    failed = 0
    for video, truth in annotated:
        try:
            frames = _decode(video)
            if len(frames) != truth.frames:
                raise UsageError(f"{video}: decoded {len(frames)} frames, its ground truth says {truth.frames}")
        except StreamclipError as exc:
            print(f"streamclip: {video}: {exc}", file=sys.stderr)
            failed += 1
            continue
        started = time.process_time()
        probabilities = _probabilities(frames, detector)
        tally.cpu_s += time.process_time() - started
        tally.minutes += float(truth.frames / Fraction(truth.fps) / 60)
        _print_video(video, truth, shots := shots_from_probabilities(probabilities, detector.threshold))
        tally.add(truth, shots)
    if tally.counts:
        print(markdown_table([tally]))
    return 1 if failed else 0


def _truths(videos: list[str], truth_file: Path | None) -> list[tuple[str, GroundTruth]]:
    if truth_file is not None and len(videos) != 1:
        raise UsageError("--truth names the ground truth of one video; give several videos a <stem>.truth.json each")
    found = []
    for video in videos:
        path = truth_file or truth_path(Path(video))
        if not path.is_file():
            raise UsageError(f"{video}: no ground truth ({path} is missing; see `streamclip eval --help`)")
        try:
            found.append((video, read_truth(path)))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return found


def _decode(video: Path) -> np.ndarray:
    """The detector's input exactly as the pipeline decodes it (48x27 RGB at the video's average rate)."""
    done = asyncio.run(children.run(decode_argv(probe_sync(video)), timeout_s=DECODE_TIMEOUT_S))
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, 27, 48, 3)


def _probabilities(frames: np.ndarray, detector: DetectorConfig) -> np.ndarray:
    return shot_probabilities(
        frames,
        device=detector.device,
        precision=detector.precision,
        engine=detector.engine,
        threshold=detector.threshold,
        model=detector.model,
    )


def _print_video(video: Path, truth: GroundTruth, shots: np.ndarray) -> None:
    one = Tally(video.name)
    one.add(truth, shots)
    exact, near = one.total(0), one.total(2)
    print(
        f"{video.name}: {len(truth.transitions)} transitions, {len(shots) - 1} found; F1 {near.f1:.3f} within "
        f"±2 frames (P {near.precision:.3f}, R {near.recall:.3f}), {exact.f1:.3f} exact"
    )
