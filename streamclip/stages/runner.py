"""StageActor: one curation stage between the frame extractor and the clip writer.

The pipeline chains one actor per stage (`stage_actors`), in the stages' order, on bounded
channels: a stage that is slower than the split fills its inbox and the transcoder waits, so
memory stays the channels' capacities times a clip. Each actor is a `PerVideoPool` of the stage's
`concurrency`, so at most that many clips are inside its `process()` at once and a video's
`VideoEnd` leaves only after every clip of that video has (the writer's records need that order).

A clip a stage sees is one that is kept so far: not failed, not dropped by an earlier stage, and
not one finished by an earlier run (its meta already holds these stages' results: `records`).
What `process()` returns is checked before anything of it is applied, so a stage that raises or
returns something unusable fails that clip alone (an error under the stage's name); the pipeline
and the video go on. Cancellation reaches `process()` like any task's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import msgspec
import numpy as np

from streamclip.actors.messages import ClipItem, VideoEnd
from streamclip.actors.pools import PerVideoPool
from streamclip.contract.stats import STAGE_PREFIX
from streamclip.contract.types import Clip
from streamclip.errors import Reason
from streamclip.runtime.channel import Channel
from streamclip.runtime.waiting import wait_out
from streamclip.stages.interface import Stage, StageInput, StageOutput
from streamclip.stages.loading import STAGE_COUNTERS
from streamclip.storage.layout import META_KEYS

log = logging.getLogger(__name__)

StageIn = ClipItem | VideoEnd
# Folders of the layout a stage's files may not write into (they hold clips, metas and records).
_LAYOUT_FOLDERS = frozenset(
    {"clips", "filtered_clips", "metas", "frames", "processed_videos", "processed_clip_chunks", "decisions", "report"}
)


class StageActor(PerVideoPool[StageIn, StageIn]):
    """Runs one stage on every kept clip, at most `stage.concurrency` at once."""

    def __init__(self, inbox: Channel[StageIn], outbox: Channel[StageIn], stage: Stage) -> None:
        self.name = f"{STAGE_PREFIX}{stage.name}"  # before the pool checks its workers (its errors name it)
        super().__init__(inbox, outbox, workers=stage.concurrency)
        self.stage = stage
        self.processed = 0
        self.dropped = 0
        self.failed = 0

    async def handle(self, item: StageIn) -> None:
        assert isinstance(item, ClipItem)
        clip = item.clip
        if clip.kept and not item.reused and item.scratch_path is not None:
            started = time.monotonic()
            await self._process(clip, Path(item.scratch_path))
            item.job.add_time(self.name, time.monotonic() - started)
        await self.emit(item)

    async def _process(self, clip: Clip, path: Path) -> None:
        stage = self.stage
        try:
            output = await stage.process(StageInput(clip=clip, path=path, fields=MappingProxyType(dict(clip.fields))))
            fields = check_output(stage, clip, output)
        except Exception as exc:  # the stage's bug or its input's: this clip fails, not the run
            clip.fail(stage.name, f"{type(exc).__name__}: {exc}", Reason.STAGE_ERROR)
            self.failed += 1
            return
        assert isinstance(output, StageOutput)
        apply_output(stage, clip, output, fields)
        self.processed += 1
        self.dropped += output.drop is not None

    def statistics(self) -> dict[str, Any]:
        stats = super().statistics()
        stats.update(processed=self.processed, dropped=self.dropped, failed=self.failed)
        return stats


def stage_actors(
    stages: Sequence[Stage], inbox: Channel[StageIn], outbox: Channel[StageIn], capacity: int
) -> tuple[list[StageActor], list[Channel[StageIn]]]:
    """One actor per stage, chained from `inbox` to `outbox`; the channels made between them."""
    actors: list[StageActor] = []
    between: list[Channel[StageIn]] = []
    current = inbox
    for position, stage in enumerate(stages):
        last = position == len(stages) - 1
        following: Channel[StageIn] = outbox if last else Channel(capacity, f"staged:{stage.name}")
        if not last:
            between.append(following)
        actors.append(StageActor(current, following, stage))
        current = following
    return actors, between


class StageOutputError(ValueError):
    """A stage returned something the pipeline cannot record (the clip fails, naming the stage)."""


def check_output(stage: Stage, clip: Clip, output: object) -> dict[str, Any]:
    """Everything `apply_output` relies on, checked before any of it changes the clip; the fields
    as plain JSON values (numpy scalars and arrays become numbers and lists)."""
    if not isinstance(output, StageOutput):
        raise StageOutputError(f"process() returned a {type(output).__name__}, not a StageOutput")
    fields = _checked_fields(output.fields, clip.fields)
    if output.drop is not None and (not isinstance(output.drop, str) or not output.drop.strip()):
        raise StageOutputError(f"drop must be a reason in words or None, got {output.drop!r}")
    unknown = [c for c in output.counters if c not in STAGE_COUNTERS]
    if unknown:
        raise StageOutputError(f"unknown counters {unknown} (a stage may add to {sorted(STAGE_COUNTERS)})")
    for name, data in output.files.items():
        check_file_name(name)
        if not isinstance(data, bytes):
            raise StageOutputError(f"files[{name!r}] must be bytes, got {type(data).__name__}")
    return fields


def _checked_fields(fields: Mapping[str, object], earlier: Mapping[str, object]) -> dict[str, Any]:
    if not isinstance(fields, dict) or not all(isinstance(key, str) for key in fields):
        raise StageOutputError("fields must be a dict with str keys")
    taken = sorted(key for key in fields if key in earlier or key in META_KEYS)
    if taken:
        raise StageOutputError(f"fields {taken} are already in the clip's meta (set by it or an earlier stage)")
    try:
        plain: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(fields, enc_hook=_numpy_value))
    except (TypeError, ValueError, OverflowError) as exc:
        raise StageOutputError(f"fields must be JSON-serialisable: {exc}") from None
    return plain


def _numpy_value(value: object) -> object:
    """numpy's scalars and arrays as the JSON values they hold (a stage's scores often are numpy's)."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def check_file_name(name: str) -> None:
    """A relative path inside the output root, outside the folders the layout owns."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or name.endswith("/"):
        raise StageOutputError(f"file name {name!r} must be a relative path inside the output root")
    if path.parts[0] in _LAYOUT_FOLDERS or path.parts[0].startswith("."):
        raise StageOutputError(f"file name {name!r} is in a folder the output layout owns")


def apply_output(stage: Stage, clip: Clip, output: StageOutput, fields: Mapping[str, Any]) -> None:
    """Record a checked output (and its `check_output` fields) on the clip: fields, files, counters,
    and the drop with its counter."""
    clip.stages.append(stage.name)
    clip.fields.update(fields)
    clip.files.update(output.files)
    clip.counters.extend(output.counters)
    if output.drop is not None:
        clip.dropped_by, clip.drop_reason = stage.name, output.drop
        if stage.drop_counter is not None:
            clip.counters.append(stage.drop_counter)


async def close_stages(stages: Sequence[Stage]) -> None:
    """Call every stage's `close()` once, in order; one that fails is logged and the others are
    still closed; a cancellation meanwhile is raised after the last one."""
    interrupted = False
    for stage in stages:
        closing = asyncio.ensure_future(stage.close())
        try:
            await wait_out(closing)
        except asyncio.CancelledError:
            interrupted = True
        if not closing.cancelled() and closing.exception() is not None:
            log.warning("stage %s: close() failed: %r", stage.name, closing.exception())
    if interrupted:
        raise asyncio.CancelledError
