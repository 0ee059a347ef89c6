"""The public API is small, re-exported from `streamclip`, and pinned here."""

from __future__ import annotations

import inspect

import streamclip

PUBLIC = {
    "Clip", "ClipReady", "ClipStats", "ConfigError", "EncodedClipInfo", "Event", "FFmpegError",
    "ModelError", "Pipeline", "PipelineConfig", "SourceError", "Span", "Stage", "StageInput", "StageOutput",
    "StreamclipError", "VideoDone",
    "VideoFailed", "VideoMetadata", "available_profiles", "clip_uuid", "fixed_stride_spans", "load_config",
    "middle_index", "open_pipeline", "probe", "probe_sync", "sample_frame_indices", "scene_spans",
    "shot_probabilities", "split",
}  # fmt: skip


def test_all_is_pinned_and_importable() -> None:
    assert set(streamclip.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(streamclip, name) is not None


def test_the_rules_have_the_documented_signatures() -> None:
    scene = inspect.signature(streamclip.scene_spans)
    assert list(scene.parameters) == [
        "transitions", "fps", "min_length_s", "max_length_s", "max_length_mode", "crop_s",
        "entire_scene_as_clip", "limit_clips", "scene_edges",
    ]  # fmt: skip
    defaults = {k: p.default for k, p in scene.parameters.items() if p.default is not inspect.Parameter.empty}
    assert defaults == {
        "min_length_s": 2.0, "max_length_s": 10.0, "max_length_mode": "stride", "crop_s": 0.5,
        "entire_scene_as_clip": True, "limit_clips": 0, "scene_edges": "curator",
    }  # fmt: skip
    stride = inspect.signature(streamclip.fixed_stride_spans)
    assert list(stride.parameters) == [
        "duration_s", "fps", "clip_len_s", "clip_stride_s", "min_clip_length_s", "limit_clips",
    ]  # fmt: skip
    assert list(inspect.signature(streamclip.clip_uuid).parameters) == ["source", "start_frame", "end_frame"]
    probabilities = inspect.signature(streamclip.shot_probabilities)
    assert probabilities.parameters["device"].default == "cpu"
    assert probabilities.parameters["device"].kind is inspect.Parameter.KEYWORD_ONLY


def test_video_metadata_knows_10_bit_formats() -> None:
    base = {"path": "/v.mp4", "size": 1, "width": 2, "height": 2, "fps": 25.0, "num_frames": 1,
            "duration_s": 0.04, "video_codec": "h264"}  # fmt: skip
    assert streamclip.VideoMetadata(**base, pixel_format="yuv420p10le").is_10_bit
    assert not streamclip.VideoMetadata(**base, pixel_format="yuv420p").is_10_bit


def test_clip_stats_combine_sums_and_keeps_the_longest() -> None:
    a = streamclip.ClipStats(num_passed=2, total_clip_duration=5.0, max_clip_duration=3.0)
    b = streamclip.ClipStats(num_passed=1, num_transcoded=1, total_clip_duration=4.0, max_clip_duration=4.0)
    combined = a.combine(b)
    assert (combined.num_passed, combined.num_transcoded) == (3, 1)
    assert (combined.total_clip_duration, combined.max_clip_duration) == (9.0, 4.0)
