"""MotionStage: NeMo Curator's motion score and filter, as a per-clip stage after the split.

Curator runs `MotionVectorDecodeStage` then `MotionFilterStage`
(`nemo_curator/stages/video/filtering/motion_filter.py`); here one stage does both on each
transcoded clip as it is finished (`streamclip.stages.motion_vectors` has the decoding and the
formula). Every clip it sees gets `motion_score_global_mean` and `motion_score_per_patch_min_256`
in its meta; a clip with small motion (`global_mean < global_mean_threshold` or
`per_patch_min_256 < per_patch_min_256_threshold`) is dropped with a reason that names the rule
and the scores, and counted in `num_filtered_by_motion`, unless `score_only`.

Curator's traps, and what streamclip chose (Curator's behaviour, as it is the contract):
- A clip with a side under 256 px, or whose codec exports no motion vectors (an all-intra
  encode; VP9, which `transcode.encoder = "libvpx-vp9"` makes, so `[motion]` refuses to filter
  those), cannot be scored. Curator gives it both scores -1.0 and filters it; so does this stage,
  and the drop reason says which trap it was. With `score_only` the clip is kept with -1.0 scores.
- A clip that fails to decode is filtered by Curator as "decode_failed"; here it is a clip error
  under the stage's name (the runner's rule for a stage that raises), because a clip streamclip
  has just encoded and cannot read back is a fault to see, not footage to curate.

The decode and the scoring run in a worker thread, one decoding thread per clip; `workers` clips
are scored at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

from streamclip.config import MotionConfig, PipelineConfig
from streamclip.runtime.waiting import in_thread
from streamclip.stages.interface import StageInput, StageOutput
from streamclip.stages.motion_vectors import MotionScores, MotionUnscorable, decode_motion, score_motion

UNSCORED = -1.0  # Curator's score for a clip it could not decode for motion
GLOBAL_MEAN_FIELD = "motion_score_global_mean"
PER_PATCH_FIELD = "motion_score_per_patch_min_256"


class MotionStage:
    """Scores every clip's motion and filters the clips with small motion (see the module)."""

    name: str = "motion"
    drop_counter: str | None = "num_filtered_by_motion"

    def __init__(self, settings: MotionConfig | Mapping[str, object] | None = None) -> None:
        if settings is None:
            settings = MotionConfig()
        elif not isinstance(settings, MotionConfig):
            settings = msgspec.convert(dict(settings), MotionConfig)
        self.settings = settings
        self.concurrency = settings.workers

    async def process(self, item: StageInput) -> StageOutput:
        scores, unscorable = await in_thread(measure_motion, item.path)
        fields: dict[str, object] = {GLOBAL_MEAN_FIELD: scores.global_mean, PER_PATCH_FIELD: scores.per_patch_min_256}
        reason = unscorable or self.small_motion_reason(scores)
        return StageOutput(fields=fields, drop=None if self.settings.score_only else reason)

    def small_motion_reason(self, scores: MotionScores) -> str | None:
        """Curator's rule in words (the rule, the scores and thresholds), or None when it passes."""
        settings = self.settings
        broken = []
        if scores.global_mean < settings.global_mean_threshold:
            broken.append(f"global mean {scores.global_mean:.6g} < {settings.global_mean_threshold:g}")
        if scores.per_patch_min_256 < settings.per_patch_min_256_threshold:
            broken.append(
                f"per-patch min (256 px) {scores.per_patch_min_256:.6g} < {settings.per_patch_min_256_threshold:g}"
            )
        return f"small motion: {' and '.join(broken)}" if broken else None

    async def close(self) -> None:
        """Nothing is held between clips."""


def measure_motion(path: Path) -> tuple[MotionScores, str | None]:
    """The clip's scores, or Curator's -1.0 scores and why it cannot be scored."""
    try:
        return score_motion(decode_motion(path)), None
    except MotionUnscorable as exc:
        return MotionScores(global_mean=UNSCORED, per_patch_min_256=UNSCORED), f"unscorable motion: {exc.reason}"


def motion_stage(config: PipelineConfig) -> MotionStage | None:
    """The built-in stage `[motion]` makes, or None when it is off."""
    return MotionStage(config.motion) if config.motion.enabled else None
