"""streamclip: cut videos into shot-based clips for dataset curation, as a stream."""

from streamclip.api import Pipeline, open_pipeline, split
from streamclip.config import PipelineConfig, available_profiles, load_config
from streamclip.contract.rules import (
    clip_uuid,
    fixed_stride_spans,
    middle_index,
    sample_frame_indices,
    scene_spans,
)
from streamclip.contract.types import (
    Clip,
    ClipReady,
    ClipStats,
    EncodedClipInfo,
    Event,
    Span,
    VideoDone,
    VideoFailed,
    VideoMetadata,
)
from streamclip.detector.engines import shot_probabilities
from streamclip.errors import ConfigError, FFmpegError, ModelError, SourceError, StreamclipError
from streamclip.ffmpeg.probe import probe, probe_sync
from streamclip.stages import Stage, StageInput, StageOutput

__version__ = "0.1.0"

__all__ = [
    "Clip",
    "ClipReady",
    "ClipStats",
    "ConfigError",
    "EncodedClipInfo",
    "Event",
    "FFmpegError",
    "ModelError",
    "Pipeline",
    "PipelineConfig",
    "SourceError",
    "Span",
    "Stage",
    "StageInput",
    "StageOutput",
    "StreamclipError",
    "VideoDone",
    "VideoFailed",
    "VideoMetadata",
    "available_profiles",
    "clip_uuid",
    "fixed_stride_spans",
    "load_config",
    "middle_index",
    "open_pipeline",
    "probe",
    "probe_sync",
    "sample_frame_indices",
    "scene_spans",
    "shot_probabilities",
    "split",
]
