"""The per-clip stage interface: what a curation stage after the split receives, returns and promises.

A stage sees every clip that was encoded (and had its frames sampled) without error, one at a
time, in the order the pipeline finishes them. It may add fields to the clip's meta, drop the clip
with a reason a person can read, write extra files next to the clips and add to the run's
counters. The built-in stages (motion, dedup, preview) implement the same protocol users do; the
runner (`streamclip.stages.runner`) calls them in order, at most `concurrency` clips inside one
stage's `process()` at a time, under the pipeline's backpressure.

Contract for implementers:

- `process()` is called concurrently (up to `concurrency` at once) from the event loop. CPU-heavy
  work goes to a thread (`asyncio.to_thread`), never on the loop; a GPU model can batch clips by
  keeping `concurrency` above 1 and gathering them inside the stage.
- An exception from `process()` fails that clip alone (its error is recorded under the stage's
  name); the pipeline and the video go on. Cancellation (`CancelledError`) must propagate.
- `close()` is called once when the pipeline ends, normally or by cancellation: release models,
  indexes and files there.
- `fields` must be JSON-serialisable (msgspec; numpy values are converted) and are merged into the
  clip's meta at top level; a key another stage (or the meta itself) already has is an error for
  that clip.
- `files` are written under the output root before the clip's meta (temporary name then rename, or
  one S3 put); without an output folder they travel on the clip (`Clip.files`), as the encoded
  bytes do in `Clip.buffer`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from streamclip.contract.types import Clip


@dataclass(frozen=True)
class StageInput:
    """One finished clip as a stage sees it."""

    clip: Clip
    """Identity (`uuid`, `source`, `index`), `span`, `encoded` facts and the sampled `frames`
    (signature -> uint8 array of shape [n, height, width, 3]). Treat it as read-only."""
    path: Path
    """The encoded MP4 on local disk, readable while `process()` runs (it may be a scratch file
    that is removed afterwards: copy it if you need it later)."""
    fields: Mapping[str, object]
    """What earlier stages of this pipeline added for this clip, read-only."""


@dataclass
class StageOutput:
    """What a stage decided about one clip."""

    fields: dict[str, object] = field(default_factory=dict)
    """JSON-serialisable values (numpy scalars and arrays are converted to numbers and lists)
    merged into the clip's meta (top-level keys; a stage may not overwrite a key another stage or
    the meta already wrote)."""
    drop: str | None = None
    """A reason a person can read: the clip is filtered (not written to `OUT/clips/`; its meta is
    kept with the fields and this reason). The stages after this one do not see the clip."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra outputs, by path relative to the output root (e.g. `"previews/<uuid>.webp"`), written
    like clips (temporary name then rename, or an S3 put) before the meta."""
    counters: tuple[str, ...] = ()
    """`ClipStats` counters this clip adds 1 to (e.g. `"num_with_webp"`)."""


@runtime_checkable
class Stage(Protocol):
    """A per-clip curation stage after the split (see the module's docstring for the contract)."""

    name: str
    """Unique in a pipeline; names the stage in errors, events and meta."""
    concurrency: int
    """At most this many clips inside `process()` at once; the runner waits (backpressure)."""
    drop_counter: str | None
    """The `ClipStats` counter a drop by this stage adds 1 to (motion: `"num_filtered_by_motion"`);
    None: the drop is counted only as a clip filtered by stages in general."""

    async def process(self, item: StageInput) -> StageOutput:
        """Score, annotate or filter one clip."""
        ...

    async def close(self) -> None:
        """Release what the stage holds; called once when the pipeline ends (also on cancel)."""
        ...


StageFactory = Callable[[Mapping[str, object]], Stage]
"""Builds a stage from its settings table: `[[stages]] use = "package.module:Factory"` calls
`Factory(settings)` with the table's other keys (a class whose `__init__` takes the mapping fits)."""

__all__ = ["Stage", "StageFactory", "StageInput", "StageOutput"]
