"""Every thread count a pipeline uses, derived from its `[resources] cpus` and its worker counts.

Each ffmpeg child gets an explicit `-threads` (left alone, each would start a thread per core, and
a pipeline runs several at once), and the detector an explicit intra-op thread count. The rule,
with n = whole cores of `resources.cpus` (at least 1), W = `transcode.workers`, F = `frames.workers`:

| what                                      | threads                              | 2 | 16 | 64 |
|-------------------------------------------|--------------------------------------|---|----|----|
| encoder, per transcode (`encoder_threads`)| n / 2W, 1..16                        | 1 | 4  | 16 |
| source decoding, per transcode            | encoder / 2, 1..8                    | 1 | 2  | 8  |
| detector-input decoder, per video         | n / 8, 1..4                          | 1 | 2  | 4  |
| frame extractor, per clip                 | n / 4F, 1..4                         | 1 | 4  | 4  |
| detector (`torch_threads`)                | n up to 4 cores, else n - W·encoder, 2..16 | 2 | 8 | 16 |

(columns: W = 2, F = 1.) On 2 cores the detector runs on every core — measured the fastest there,
the detector being the bottleneck and ffmpeg needing only the gaps it leaves. From 4 cores on the
encoders get whole cores of their own and the detector the rest, capped where its convolutions
stop scaling. `transcode.encoder_threads` and `detector.torch_threads` set explicitly (> 0) win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streamclip.config import PipelineConfig

MAX_ENCODER_THREADS = 16  # x264's frame threads stop paying well before; keeps an encoder's memory bounded
MAX_DETECTOR_THREADS = 16


@dataclass(frozen=True)
class Threads:
    encoder: int  # each transcoder ffmpeg's encoder
    transcode_input: int  # each transcoder ffmpeg's decoding of the source (4K, HEVC: not cheap)
    decoder: int  # each detector-input ffmpeg (source decoded, scaled to 48x27)
    frames: int  # each frame-extractor ffmpeg
    detector: int  # the detector's intra-op threads


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def cores(config: PipelineConfig) -> int:
    """Whole cores the pipeline may use (`resources.cpus`, at least 1)."""
    return max(1, math.floor(config.resources.cpus))


def encoder_threads(config: PipelineConfig) -> int:
    if config.transcode.encoder_threads > 0:
        return config.transcode.encoder_threads
    return _clamp(cores(config) // (2 * config.transcode.workers), 1, MAX_ENCODER_THREADS)


def detector_threads(config: PipelineConfig) -> int:
    """The detector's threads (torch intra-op, or any engine's): `detector.torch_threads`, or derived."""
    if config.detector.torch_threads > 0:
        return config.detector.torch_threads
    n = cores(config)
    if n <= 4:
        return n
    return _clamp(n - config.transcode.workers * encoder_threads(config), 2, MAX_DETECTOR_THREADS)


def plan_threads(config: PipelineConfig) -> Threads:
    n, encoder = cores(config), encoder_threads(config)
    return Threads(
        encoder=encoder,
        transcode_input=_clamp(encoder // 2, 1, 8),
        decoder=_clamp(n // 8, 1, 4),
        frames=_clamp(n // (4 * config.frames.workers), 1, 4),
        detector=detector_threads(config),
    )
