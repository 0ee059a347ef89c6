"""What a clip's meta says of its curation stages, and reading it back on a rerun.

A clip that went through stages gets, besides the stages' fields at the meta's top level:

    "stages": {"names": ["motion", "brightness"], "fields": ["motion_score_global_mean", ...],
               "counters": ["num_filtered_by_motion"]}
    "dropped_by": "motion", "drop_reason": "..."          (a dropped clip only)

`names` is what makes resume exact: a finished clip is reused only when the stages that made its
meta are the pipeline's stages now (a dropped clip: the stages up to the one that dropped it), so
a rerun neither encodes nor scores it again and reports the same fields, drops and counters. A
pipeline without stages writes none of these keys (its metas are as before).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streamclip.contract.types import Clip

BOOKKEEPING_KEYS = ("stages", "dropped_by", "drop_reason")


def stage_meta(clip: Clip) -> dict[str, Any]:
    """The keys a clip's meta gets from its stages (none when no stage saw it)."""
    if not clip.stages:
        return {}
    record: dict[str, Any] = dict(clip.fields)
    record["stages"] = {"names": list(clip.stages), "fields": list(clip.fields), "counters": list(clip.counters)}
    if clip.drop_reason is not None:
        record.update(dropped_by=clip.dropped_by, drop_reason=clip.drop_reason)
    return record


def is_dropped(meta: Mapping[str, Any]) -> bool:
    """A meta of a clip a stage dropped (it has no clip file)."""
    return isinstance(meta.get("drop_reason"), str) and isinstance(meta.get("dropped_by"), str)


def finished_for(meta: Mapping[str, Any], stage_names: Sequence[str]) -> bool:
    """True when the meta was made by exactly these stages (a dropped clip's: up to its dropper)."""
    recorded = _recorded(meta)
    if recorded is None:
        return False
    names: list[str] = recorded.get("names", [])
    if is_dropped(meta):
        dropper = str(meta["dropped_by"])
        expected = list(stage_names)
        return dropper in expected and names == expected[: expected.index(dropper) + 1]
    return names == list(stage_names)


def restore(clip: Clip, meta: Mapping[str, Any]) -> None:
    """Put a finished clip's stage results back on it from its meta (see `finished_for`)."""
    recorded = _recorded(meta)
    if not recorded:
        return
    clip.stages = [str(name) for name in recorded.get("names", [])]
    clip.fields = {str(key): meta[key] for key in recorded.get("fields", []) if key in meta}
    clip.counters = [str(counter) for counter in recorded.get("counters", [])]
    if is_dropped(meta):
        clip.dropped_by, clip.drop_reason = meta["dropped_by"], meta["drop_reason"]


def _recorded(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The meta's `stages` record; `{}` for a meta without one (made by a pipeline without stages)."""
    recorded = meta.get("stages", {})
    if not isinstance(recorded, dict):
        return None
    for key in ("names", "fields", "counters"):
        if not isinstance(recorded.get(key, []), list):
            return None
    return recorded
