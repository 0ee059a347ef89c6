"""The Python async API (the façade): a pipeline opened as an async context manager.

    async with streamclip.open_pipeline(config, output_dir="out") as pipe:
        await pipe.submit("a.mp4")
        pipe.close_input()
        async for event in pipe:
            ...

Videos may be submitted at any time until `close_input()`; events arrive as they happen
(`ClipReady` in completion order, then `VideoDone` or `VideoFailed` per video; a clip a curation
stage dropped is a `ClipReady` too, with `clip.kept` false and `clip.drop_reason` set). Leaving the block
early cancels every actor and kills every ffmpeg child; work files are removed.

Two backends implement `backend.EventPipeline`: `local` (this process) and `ray` (a cluster);
this module picks one and imports neither's internals (`ray` only when asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

from streamclip.backend import EventPipeline
from streamclip.config import PipelineConfig, RayConfig, load_config
from streamclip.contract.types import Event
from streamclip.detector.network import ShotModel
from streamclip.local import Pipeline, open_local_pipeline
from streamclip.stages.interface import Stage
from streamclip.storage.outputs import output_url

if TYPE_CHECKING:
    from streamclip.ray.driver import RayPipeline

__all__ = ["EventPipeline", "Pipeline", "open_pipeline", "split"]


@overload
def open_pipeline(
    config: PipelineConfig | str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    model: ShotModel | None = None,
    ray: None = None,
    work_dir: str | os.PathLike[str] | None = None,
    stages: Sequence[Stage] = (),
) -> contextlib.AbstractAsyncContextManager[Pipeline]: ...


@overload
def open_pipeline(
    config: PipelineConfig | str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    model: ShotModel | None = None,
    ray: RayConfig | str,
    work_dir: None = None,
    stages: Sequence[Stage] = (),
) -> contextlib.AbstractAsyncContextManager[RayPipeline]: ...


def open_pipeline(
    config: PipelineConfig | str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    model: ShotModel | None = None,
    ray: RayConfig | str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    stages: Sequence[Stage] = (),
) -> contextlib.AbstractAsyncContextManager[Pipeline] | contextlib.AbstractAsyncContextManager[RayPipeline]:
    """Open a streaming pipeline; `config` is a `PipelineConfig` or a profile name/path.

    `ray` runs it on a Ray cluster instead of in this process: a Ray address, "local" to start a
    Ray runtime here, or a `RayConfig`. Events and outputs are the same either way.

    `work_dir` is where its work folder (clips being made) goes: by default inside a folder output,
    and the system's temporary folder for an s3:// output or none. On Ray each worker has its own.

    `stages` are curation stages (`streamclip.Stage` objects) run on every clip after the split,
    after the built-in ones and those the config's `[[stages]]` name; they are closed when the
    pipeline ends. On Ray each worker runs a pickled copy of each.
    """
    if not isinstance(config, PipelineConfig):
        config = load_config(config or "default")
    out = output_url(output_dir) if output_dir is not None else None  # a folder, or an s3:// prefix
    if ray is None:
        local_work = Path(work_dir) if work_dir is not None else None
        return open_local_pipeline(config, out, model, work_dir=local_work, stages=stages)
    if work_dir is not None:
        raise ValueError("work_dir is for a pipeline in this process: on Ray each worker keeps its own")
    from streamclip.ray import open_ray_pipeline  # the `ray` extra: imported only when asked for

    return open_ray_pipeline(config, out, RayConfig(address=ray) if isinstance(ray, str) else ray, stages)


async def split(
    paths: Sequence[str | os.PathLike[str]] | Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | str | None = None,
    *,
    ray: RayConfig | str | None = None,
    stages: Sequence[Stage] = (),
) -> list[Event]:
    """One call: run every path through one pipeline (on Ray if `ray` is given), with `stages` after
    the split; all events in arrival order."""
    pipe: EventPipeline
    async with open_pipeline(config, output_dir, ray=ray, stages=stages) as pipe:
        feeder = asyncio.create_task(_feed(pipe, paths))
        events = [event async for event in pipe]
        await feeder
    return events


async def _feed(pipe: EventPipeline, paths: Iterable[str | os.PathLike[str]]) -> None:
    try:
        for path in paths:
            await pipe.submit(path)
    finally:
        pipe.close_input()
