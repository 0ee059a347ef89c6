"""Building a pipeline's stages: the built-in ones its config enables, then users' own.

`[[stages]] use = "package.module:Factory"` names a callable importable where the pipeline runs
(this process, or each Ray worker): it is called with the table's `settings` and must return a
`Stage`. Every way this can go wrong is a `ConfigError` that names the entry, so a typo costs one
line when the pipeline opens, not a traceback in the middle of a run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import MappingProxyType

import msgspec

from streamclip.config import PipelineConfig, StageConfig
from streamclip.contract.types import ClipStats
from streamclip.errors import ConfigError
from streamclip.stages.dedup import dedup_stage
from streamclip.stages.interface import Stage
from streamclip.stages.motion import motion_stage
from streamclip.stages.preview import preview_stage

# The built-in stages, in their order: each takes the pipeline's config and returns its stage when
# its section enables it, else None (import heavy modules inside the function, not here).
BUILT_INS: list[Callable[[PipelineConfig], Stage | None]] = [
    motion_stage,  # [motion]
    dedup_stage,  # [dedup]
    preview_stage,  # [preview]
]

# Counters a stage may add to: ClipStats' whole-number fields, minus those the writer keeps itself.
_WRITER_COUNTERS = frozenset({"num_passed", "num_transcoded", "num_filtered"})
STAGE_COUNTERS = frozenset(
    f.name for f in msgspec.structs.fields(ClipStats) if f.type is int and f.name not in _WRITER_COUNTERS
)


def build_stages(config: PipelineConfig, given: Iterable[Stage] = ()) -> list[Stage]:
    """The built-in stages the config enables, its `[[stages]]`, then `given` (the API's), checked."""
    stages = list(iter_stages(config, given))
    check_stages(stages)
    return stages


def iter_stages(config: PipelineConfig, given: Iterable[Stage] = ()) -> Iterator[Stage]:
    """The pipeline's stages in order, each built as it is reached (so that a caller can close those
    built before one whose factory fails)."""
    for make in BUILT_INS:
        stage = make(config)
        if stage is not None:
            yield stage
    for entry in config.stages:
        yield load_stage(entry)
    yield from given


def load_stage(entry: StageConfig) -> Stage:
    """Import `entry.use` and call it with the settings (read-only); ConfigError when that fails."""
    factory = import_factory(entry.use)
    try:
        stage = factory(MappingProxyType(dict(entry.settings)))
    except ConfigError:
        raise
    except Exception as exc:  # the factory's own complaint about its settings, with the entry named
        raise ConfigError(f"stages: {entry.use} could not be built: {type(exc).__name__}: {exc}") from exc
    if not isinstance(stage, Stage):
        raise ConfigError(
            f"stages: {entry.use} returned a {type(stage).__name__}, not a Stage "
            "(name, concurrency, drop_counter, async process() and close())"
        )
    return stage


def import_factory(use: str) -> Callable[[object], object]:
    """The callable `use` ("package.module:Factory") names; ConfigError when there is none."""
    factory = _import(use)
    if not callable(factory):
        raise ConfigError(f"stages: use = {use!r} is a {type(factory).__name__}, not a callable factory")
    return factory


def _import(use: str) -> object:
    module_name, _, attribute = use.partition(":")
    try:
        module = importlib.import_module(module_name.strip())
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"stages: use = {use!r}: module {exc.name!r} not found (is it installed, or on PYTHONPATH?)"
        ) from None
    except Exception as exc:  # the module exists and fails as it is imported
        problem = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"stages: use = {use!r}: importing {module_name} failed: {problem}") from exc
    found: object = module
    for part in attribute.strip().split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ConfigError(f"stages: use = {use!r}: {module_name} has no {attribute.strip()!r}") from None
    return found


def check_stages(stages: Sequence[Stage]) -> None:
    """Names unique and non-empty, concurrency at least 1, drop counters ClipStats knows."""
    seen: set[str] = set()
    for stage in stages:
        if not isinstance(stage, Stage):
            raise TypeError(f"{stage!r} is not a streamclip Stage (name, concurrency, drop_counter, process, close)")
        name = stage.name
        if not isinstance(name, str) or not name or name in seen:
            raise ConfigError(f"stages: stage names must be unique, non-empty strings (got {name!r} twice or empty)")
        seen.add(name)
        if not isinstance(stage.concurrency, int) or stage.concurrency < 1:
            raise ConfigError(f"stages: {name}: concurrency must be at least 1 (got {stage.concurrency!r})")
        if stage.drop_counter is not None and stage.drop_counter not in STAGE_COUNTERS:
            known = ", ".join(sorted(STAGE_COUNTERS))
            raise ConfigError(f"stages: {name}: drop_counter {stage.drop_counter!r} is not one of {known}")
