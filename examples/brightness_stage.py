"""A curation stage of one's own: mean brightness of each clip's sampled frames; too-dark clips dropped.

A stage is any object with `name`, `concurrency`, `drop_counter`, `async process()` and
`async close()` (`streamclip.Stage`). Use it from the API:

    await streamclip.split(paths, "out", stages=[MeanBrightness({"min_brightness": 40})])

or from a profile, by import path (this folder on PYTHONPATH):

    [[stages]]
    use = "brightness_stage:MeanBrightness"
    [stages.settings]
    min_brightness = 40
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np

from streamclip import StageInput, StageOutput

SETTINGS = {"name", "min_brightness", "concurrency"}


class MeanBrightness:
    """Adds `mean_brightness` (0-255, over every sampled frame) to each clip's meta, and drops a
    clip darker than `min_brightness`."""

    drop_counter = None  # counted in ClipStats.num_filtered (no Curator counter for brightness)

    def __init__(self, settings: Mapping[str, object]) -> None:
        unknown = set(settings) - SETTINGS
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)} (known: {sorted(SETTINGS)})")
        self.name = str(settings.get("name", "brightness"))
        self.min_brightness = float(settings.get("min_brightness", 40.0))  # type: ignore[arg-type]
        self.concurrency = int(settings.get("concurrency", 2))  # type: ignore[call-overload]

    async def process(self, item: StageInput) -> StageOutput:
        frames = list(item.clip.frames.values())
        if not frames:
            raise ValueError("the clip has no sampled frames (is [frames] enabled?)")
        mean = await asyncio.to_thread(_mean_brightness, frames)  # numpy off the event loop
        output = StageOutput(fields={"mean_brightness": round(mean, 2)})
        if mean < self.min_brightness:
            output.drop = f"too dark: mean brightness {mean:.1f} < {self.min_brightness:g}"
        return output

    async def close(self) -> None:
        """Nothing to release: no model, no open file."""


def _mean_brightness(frames: list[np.ndarray]) -> float:
    return float(np.mean([frame.mean() for frame in frames]))
