"""The `streamclip` command: split, probe, profiles; watch, serve and status (`streamclip.ingest`);
report (`streamclip.review`); models (the detector model cache); eval (the detector scored on
annotated videos, `streamclip.evaluation`).

Exit status: 0 when every video and every clip succeeded; 1 when any video or clip failed (the
others' clips are still written; the summary names each failure with its reason kind) or when
nothing can run (no ffmpeg); 2 for a usage or configuration error; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import msgspec

from streamclip.api import EventPipeline, open_pipeline
from streamclip.config import PipelineConfig, RayConfig, available_profiles, load_config
from streamclip.contract.types import Clip, ClipReady, Event, VideoDone, VideoFailed
from streamclip.detector import commands as model_commands
from streamclip.errors import ClusterJoinError, ConfigError, Reason, SourceError, StreamclipError, UsageError
from streamclip.evaluation import command as eval_command
from streamclip.ffmpeg.hardware import gather_facts, plan_hardware
from streamclip.ffmpeg.probe import probe_sync
from streamclip.ingest import commands as ingest_commands
from streamclip.inputs import VideoInput, expand_inputs
from streamclip.live.command import LiveInput, live_inputs, stop_live_on_signals, submit_live
from streamclip.live.follow import can_follow
from streamclip.progress import Progress, keep_refreshing
from streamclip.review import command as review_command
from streamclip.sources import redact
from streamclip.storage import remote
from streamclip.storage.outputs import check_output, output_url
from streamclip.storage.remote import RemoteInput

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """A usage error is one line (and exit 2), not the usage text followed by the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="streamclip", description="Cut videos into shot-based clips, as a stream.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    split = commands.add_parser("split", help="split videos (files or folders) into clips")
    split.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="video files or folders (searched recursively), s3:// or http(s):// URLs; "
        "'-' (stdin) or a stream URL is read live",
    )
    split.add_argument("-o", "--output", required=True, type=output_url, help="output folder or s3://bucket/prefix")
    split.add_argument("--profile", default="default", help="profile name or TOML file (see `streamclip profiles`)")
    split.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set spans.max_length_s=5 (repeatable)",
    )
    split.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on a Ray cluster at ADDRESS ('auto', HOST:6379, ray://HOST:10001), or 'local' to start one here",
    )
    split.add_argument("--ray-actors", type=int, default=0, metavar="N", help="pipelines on Ray (0: as many as fit)")
    split.add_argument(
        "--ray-in-flight", type=int, default=2, metavar="N", help="videos each Ray pipeline holds at once (default 2)"
    )
    split.add_argument(
        "--follow",
        action="store_true",
        help="read files still being written as they grow (MPEG-TS, Matroska/WebM, FLV, fragmented MP4); "
        "each is finished once it has not grown for --follow-idle seconds",
    )
    split.add_argument(
        "--follow-idle", type=float, metavar="SECONDS", help="with --follow: limits.follow_idle_s (default 10)"
    )
    split.add_argument("--events", choices=["jsonl"], help="print one JSON object per event on stdout")
    split.add_argument(
        "--duration", type=float, metavar="SECONDS", help="live inputs ('-', stream URLs): stop reading after SECONDS"
    )
    split.add_argument("--no-progress", action="store_true", help="no progress display even on a terminal")

    probe = commands.add_parser(
        "probe", help="print what streamclip reads from a video, or (--hardware) what will run where"
    )
    probe.add_argument("file", nargs="?")
    probe.add_argument(
        "--hardware",
        action="store_true",
        help="print what runs where for a profile (decode, detector, encoder, NVENC sessions) and every "
        "fallback to the CPU with its reason",
    )
    probe.add_argument("--profile", default="nvidia", help="with --hardware: the profile to plan (default nvidia)")
    probe.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE", help="with --hardware"
    )

    commands.add_parser("profiles", help="list the bundled profiles")
    ingest_commands.add_parsers(commands)
    review_command.add_parser(commands)
    model_commands.add_parsers(commands)
    eval_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="streamclip: %(levelname)s: %(message)s",
    )
    try:
        if args.command == "probe" and args.hardware:
            return _probe_hardware(args.profile, args.overrides)
        if args.command == "probe":
            if args.file is None:
                parser.error("probe needs a FILE, or --hardware")
            return _probe(args.file)
        if args.command == "profiles":
            return _profiles()
        if args.command == "report":
            return review_command.run(args)
        if args.command in ingest_commands.COMMANDS:
            return ingest_commands.run(args)
        if args.command in model_commands.COMMANDS:
            return model_commands.run(args)
        if args.command in eval_command.COMMANDS:
            return eval_command.run(args)
        return _split(args)
    except ConfigError as exc:
        print(f"streamclip: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, ClusterJoinError) as exc:
        print(f"streamclip: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("streamclip: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StreamclipError as exc:
        print(f"streamclip: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _probe(path: str) -> int:
    try:
        meta = probe_sync(path)
    except SourceError as exc:
        print(f"streamclip: {exc}", file=sys.stderr)
        return EXIT_FAILED
    info: dict[str, Any] = msgspec.to_builtins(meta)
    info["is_10_bit"] = meta.is_10_bit
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(info), indent=2).decode() + "\n")
    return EXIT_OK


def _probe_hardware(profile: str, overrides: list[str]) -> int:
    """The plan `streamclip split --profile PROFILE` would run here, one line per part, with why."""
    config = load_config(profile, overrides)
    facts = gather_facts(config)
    gpus = ", ".join(f"{name} (driver {driver})" for name, driver in facts.gpus) or "none"
    print(f"profile {config.name}; NVIDIA GPUs: {gpus}; PyNvVideoCodec: {'yes' if facts.pynvc else 'no'}")
    plan = plan_hardware(config, facts)
    print(plan.table())
    for line in plan.fallbacks:
        print(f"fallback: {line}")
    return EXIT_OK


def _profiles() -> int:
    for name, path in available_profiles().items():
        config = load_config(path)
        print(f"{name:14} {config.description}")
    return EXIT_OK


def _split(args: argparse.Namespace) -> int:
    idle = [f"limits.follow_idle_s={args.follow_idle}"] if args.follow_idle is not None else []
    config = load_config(args.profile, [*args.overrides, *idle])
    ray = _ray_config(args)
    if args.follow and (ray is not None or config.spans.mode != "scene"):
        raise UsageError("--follow needs the scene detector on one machine (not --ray, not fixed stride)")
    live, given = live_inputs(args.inputs, ray is not None, args.duration)
    local = [text for text in given if not remote.is_remote(text)]
    found = expand_inputs(local, exclude=[args.output] if isinstance(args.output, Path) else [])
    for folder in found.skipped:  # once per folder, not per file in it
        print(f"streamclip: skipping {folder}: a streamclip output folder", file=sys.stderr)
    s3_output = args.output if isinstance(args.output, str) else None  # not searched for sources
    urls, problems = remote.expand_remote([text for text in given if remote.is_remote(text)], s3_output)
    for problem in problems:
        print(f"streamclip: {problem}", file=sys.stderr)
    videos: list[VideoInput | RemoteInput] = [*found.videos, *urls]
    missing = found.missing
    if not videos and not missing and not live:
        if not problems:
            print(f"streamclip: no video files found in {', '.join(map(redact, args.inputs))}", file=sys.stderr)
        return EXIT_FAILED
    check_output(args.output)
    show_progress = sys.stderr.isatty() and not args.no_progress
    streamed = [LiveInput(url, args.duration) for url in live]
    inputs: list[VideoInput | RemoteInput | LiveInput] = [*videos, *missing, *streamed]
    summary = asyncio.run(_run_split(config, args.output, inputs, args.events, show_progress, ray, follow=args.follow))
    summary.print(sys.stderr)
    return EXIT_FAILED if summary.failed or summary.failed_clips or problems else EXIT_OK


def _ray_config(args: argparse.Namespace) -> RayConfig | None:
    if args.ray is None:
        return None
    try:
        return RayConfig(address=args.ray, actors=args.ray_actors, max_videos_in_flight=args.ray_in_flight)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class Summary:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.clips = 0
        self.dropped = 0  # by curation stages
        self.failed_clips: list[Clip] = []
        self.done: list[VideoDone] = []
        self.failed: list[VideoFailed] = []

    def add(self, event: Event) -> None:
        if isinstance(event, ClipReady):
            self.clips += event.clip.kept
            self.dropped += event.clip.ok and not event.clip.kept
            if not event.clip.ok:
                self.failed_clips.append(event.clip)
        elif isinstance(event, VideoDone):
            self.done.append(event)
        else:
            self.failed.append(event)

    def print(self, out: TextIO) -> None:
        elapsed = time.monotonic() - self.started
        videos = len(self.done) + len(self.failed)
        out.write(
            f"streamclip: {videos} video(s), {len(self.failed)} failed; {self.clips} clip(s) written"
            f"{f', {self.dropped} dropped by stages' if self.dropped else ''}"
            f"{f', {len(self.failed_clips)} clip(s) failed' if self.failed_clips else ''} in {elapsed:.1f} s\n"
        )
        for done in self.done:
            if done.note:
                out.write(f"  {done.source}: {done.note}\n")
        for clip in sorted(self.failed_clips, key=lambda c: (c.source, c.index)):
            kind = clip.failure_kind or Reason.OTHER
            out.write(f"  clip {clip.index} of {clip.source} failed [{kind}]: {'; '.join(clip.errors.values())}\n")
        for failed in self.failed:
            out.write(f"  FAILED {failed.source} [{failed.kind}]: {failed.reason}\n")


async def _run_split(
    config: PipelineConfig,
    output: Path | str,
    videos: Sequence[VideoInput | RemoteInput | LiveInput],
    events: str | None,
    show_progress: bool,
    ray: RayConfig | None = None,
    *,
    follow: bool = False,
) -> Summary:
    summary = Summary()
    progress = Progress(len(videos), enabled=show_progress)
    pipe: EventPipeline
    async with open_pipeline(config, output, ray=ray) as pipe:
        feeder = asyncio.create_task(_feed(pipe, videos, follow=follow))
        refresher = asyncio.create_task(keep_refreshing(progress, pipe)) if show_progress else None
        if any(isinstance(video, LiveInput) for video in videos):
            stop_live_on_signals(pipe)
        try:
            with progress:
                async for event in pipe:
                    summary.add(event)
                    progress.update(event)
                    if events == "jsonl":
                        sys.stdout.write(event_json(event) + "\n")
                        sys.stdout.flush()
        finally:
            if refresher is not None:
                refresher.cancel()
        await feeder
    return summary


async def _feed(
    pipe: EventPipeline, videos: Sequence[VideoInput | RemoteInput | LiveInput], *, follow: bool = False
) -> None:
    try:
        for video in videos:
            if isinstance(video, LiveInput):
                await submit_live(pipe, video)
            elif isinstance(video, VideoInput):
                grows = follow and await asyncio.to_thread(can_follow, video.path)
                await pipe.submit(video.path, rel=video.rel, follow=grows)
            else:
                await pipe.submit(video.path, rel=video.rel)
    finally:
        pipe.close_input()


def event_json(event: Event) -> str:
    """One line of `--events jsonl`."""
    record: dict[str, Any]
    if isinstance(event, ClipReady):
        clip = event.clip
        record = {
            "event": "clip", "uuid": str(clip.uuid), "source": clip.source, "index": clip.index,
            "span": [clip.span.start_s, clip.span.end_s],
            "frames": [clip.span.start_frame, clip.span.end_frame], "path": clip.path, "errors": clip.errors,
            **({"kind": clip.failure_kind} if clip.failure_kind else {}),
            **({"fields": clip.fields} if clip.fields else {}),
            **({"dropped_by": clip.dropped_by, "drop_reason": clip.drop_reason} if clip.drop_reason else {}),
        }  # fmt: skip
    elif isinstance(event, VideoDone):
        record = {
            "event": "video_done",
            "source": event.source,
            "num_clips": event.num_clips,
            "num_failed_clips": event.num_failed_clips,
            "note": event.note,
        }
    else:
        record = {
            "event": "video_failed",
            "source": event.source,
            "reason": event.reason,
            "kind": event.kind,
            "num_clips": event.num_clips,
        }
    record["elapsed_s"] = round(event.elapsed_s, 3)
    return msgspec.json.encode(record).decode()
