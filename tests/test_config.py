"""Profiles, strict config loading, `--set` overrides, and the hardware/encoder checks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamclip.config import PipelineConfig, available_profiles, config_from_dict, load_config
from streamclip.errors import ConfigError
from streamclip.ffmpeg.children import available_encoders, ffmpeg_binary
from streamclip.ffmpeg.hardware import check_encoder, resolve_hardware

BUNDLED = {"default", "fixed-stride", "cosmos", "nvidia", "fast-cpu"}

# ---------------------------------------------------------------------------------------------
# Bundled profiles


def test_bundled_profiles_are_listed() -> None:
    profiles = available_profiles()
    assert set(profiles) >= BUNDLED
    assert all(path.suffix == ".toml" and path.is_file() for path in profiles.values())


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_profile_loads(name: str) -> None:
    by_name = load_config(name)
    assert isinstance(by_name, PipelineConfig)
    assert by_name.name == name
    assert by_name.description
    assert load_config(available_profiles()[name]) == by_name  # by path, the same


def test_default_profile_is_curators_defaults() -> None:
    config = load_config("default")
    spans, transcode, frames = config.spans, config.transcode, config.frames
    assert config.detector.threshold == 0.4
    assert spans.mode == "scene"
    assert (spans.min_length_s, spans.max_length_s, spans.crop_s) == (2.0, 10.0, 0.5)
    assert spans.max_length_mode == "stride"
    assert spans.entire_scene_as_clip is True
    assert spans.limit_clips == 0
    assert spans.scene_edges == "curator"
    assert transcode.encoder == "libx264"
    assert (frames.enabled, frames.policies, frames.target_fps) == (True, ["sequence"], [2.0])
    assert frames.write is False
    # The profile file says what the code's defaults say.
    assert config == PipelineConfig(name="default", description=config.description)


def test_fixed_stride_and_cosmos_profiles() -> None:
    stride = load_config("fixed-stride").spans
    assert (stride.mode, stride.clip_len_s, stride.clip_stride_s, stride.min_clip_length_s) == (
        "fixed_stride", 10.0, 10.0, 2.0,
    )  # fmt: skip
    cosmos = load_config("cosmos")
    assert (cosmos.spans.min_length_s, cosmos.spans.max_length_s) == (2.0, 60.0)
    assert cosmos.frames.policies == ["sequence", "middle"]
    assert cosmos.frames.write is True


def test_unknown_profile_names_the_bundled_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*default"):
        load_config("nope")


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="profile file not found"):
        load_config(tmp_path / "absent.toml")


# ---------------------------------------------------------------------------------------------
# Strict decoding


def write_profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_profile_file_by_path(tmp_path: Path) -> None:
    config = load_config(write_profile(tmp_path, 'name = "mine"\n[spans]\nmax_length_s = 4.0\n'))
    assert config.name == "mine"
    assert config.spans.max_length_s == 4.0
    assert config.spans.min_length_s == 2.0  # everything else keeps its default


def test_unknown_key_in_toml_names_it(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "[detector]\ntreshold = 0.5\n")
    with pytest.raises(ConfigError, match=r"detector\.treshold") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_unknown_section_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="spanz"):
        load_config(write_profile(tmp_path, "[spanz]\nmode = 'scene'\n"))


def test_mistyped_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"spans\.max_length_s") as caught:
        load_config(write_profile(tmp_path, '[spans]\nmax_length_s = "ten"\n'))
    assert "str" in str(caught.value)


def test_value_outside_a_literal_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"transcode\.encoder"):
        load_config(write_profile(tmp_path, '[transcode]\nencoder = "x265"\n'))


def test_scene_edges_is_strict() -> None:
    assert load_config("default", ['spans.scene_edges="runs"']).spans.scene_edges == "runs"
    with pytest.raises(ConfigError, match=r"spans\.scene_edges"):
        load_config("default", ['spans.scene_edges="plain"'])


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write_profile(tmp_path, "[spans\n"))


def test_config_from_dict_is_strict() -> None:
    with pytest.raises(ConfigError, match=r"frames\.target_fps"):
        config_from_dict({"frames": {"target_fps": ["fast"]}})


# ---------------------------------------------------------------------------------------------
# --set overrides


def test_overrides() -> None:
    config = load_config(
        "default",
        ["spans.max_length_s=5", "frames.target_fps=[1.0, 2.0]", 'transcode.encoder="libvpx-vp9"'],
    )
    assert config.spans.max_length_s == 5.0
    assert config.frames.target_fps == [1.0, 2.0]
    assert config.transcode.encoder == "libvpx-vp9"
    assert config.spans.min_length_s == 2.0  # untouched


def test_override_values_are_toml() -> None:
    config = load_config(
        "default",
        ["spans.entire_scene_as_clip=false", "spans.crop_s = 0.25", "spans.mode=fixed_stride"],
    )
    assert config.spans.entire_scene_as_clip is False
    assert config.spans.crop_s == 0.25
    assert config.spans.mode == "fixed_stride"  # a bare word is a string


def test_override_adds_a_section_the_profile_lacks() -> None:
    config = load_config("fixed-stride", ["detector.threshold=0.3"])
    assert config.detector.threshold == 0.3


def test_override_of_an_unknown_key_names_it() -> None:
    with pytest.raises(ConfigError, match=r"detector\.treshold"):
        load_config("default", ["detector.treshold=0.5"])


def test_override_of_a_mistyped_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"spans\.min_length_s"):
        load_config("default", ["spans.min_length_s=[1"])


@pytest.mark.parametrize(
    "override", ["spans", "spans.max_length_s", "max_length_s=5", "a.b.c=1", ".x=1", "spans.=1", "=1"]
)
def test_bad_override_syntax(override: str) -> None:
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_config("default", [override])


def test_override_into_a_value_that_is_not_a_section() -> None:
    with pytest.raises(ConfigError, match="not a section"):
        load_config("default", ["name.x=1"])


@pytest.mark.parametrize("channel", ["jobs", "frames", "probabilities", "spans", "clips", "events"])
def test_zero_capacity_is_refused(channel: str) -> None:
    with pytest.raises(ConfigError, match=rf"channels\.{channel}.*unbounded"):
        load_config("default", [f"channels.{channel}=0"])


@pytest.mark.parametrize(
    "key", ["transcode.workers", "decode.chunk_frames", "detector.batch_windows", "motion.workers"]
)
def test_zero_workers_or_sizes_are_refused(key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("default", [f"{key}=0"])


def test_motion_is_off_by_default_with_curators_thresholds() -> None:
    motion = load_config("default").motion
    assert (motion.enabled, motion.score_only) == (False, False)
    assert (motion.global_mean_threshold, motion.per_patch_min_256_threshold) == (0.00098, 0.000001)
    for name in available_profiles():
        assert load_config(name).motion.enabled is False  # no bundled profile changes its outputs


def test_motion_overrides_and_strictness() -> None:
    config = load_config(
        "default", ["motion.enabled=true", "motion.score_only=true", "motion.global_mean_threshold=0.002"]
    )
    assert (config.motion.enabled, config.motion.score_only, config.motion.global_mean_threshold) == (True, True, 0.002)
    with pytest.raises(ConfigError, match=r"unknown key motion\.per_patch_min_threshold"):
        load_config("default", ["motion.per_patch_min_threshold=0.1"])
    with pytest.raises(ConfigError, match="thresholds must be finite"):
        load_config("default", ["motion.global_mean_threshold=-1"])


def test_motion_filter_with_vp9_clips_is_refused_but_scoring_is_not() -> None:
    vp9 = ["transcode.encoder=libvpx-vp9", "motion.enabled=true"]
    with pytest.raises(ConfigError, match="libvpx-vp9 exports no motion vectors"):
        load_config("default", vp9)
    assert load_config("default", [*vp9, "motion.score_only=true"]).motion.score_only is True


# ---------------------------------------------------------------------------------------------
# Hardware fallback and encoders


def test_nvidia_without_gpu_falls_back_with_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    nvidia = load_config("nvidia")
    assert (nvidia.decode.backend, nvidia.detector.device, nvidia.transcode.encoder) == (
        "pynvc", "cuda", "h264_nvenc",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="streamclip"):
        resolved = resolve_hardware(nvidia, has_gpu=False)
    assert resolved.decode.backend == "cpu"
    assert resolved.detector.device == "cpu"
    assert resolved.transcode.encoder == "libx264"
    assert resolved.transcode.use_hwaccel is False
    # What has nothing to do with the GPU is kept.
    assert resolved.detector.batch_windows == nvidia.detector.batch_windows
    assert resolved.transcode.workers == nvidia.transcode.workers
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4
    settings = ["decode.backend", "detector.device", "transcode.use_hwaccel", "transcode.encoder"]
    for record, setting in zip(warnings, settings, strict=True):
        assert setting in record.getMessage()
        assert "CPU" in record.getMessage() or "libx264" in record.getMessage()


def test_nvidia_with_gpu_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    nvidia = load_config("nvidia")
    with caplog.at_level(logging.WARNING, logger="streamclip"):
        assert resolve_hardware(nvidia, has_gpu=True) == nvidia
    assert not caplog.records


def test_cpu_profile_needs_no_fallback(caplog: pytest.LogCaptureFixture) -> None:
    default = load_config("default")
    with caplog.at_level(logging.WARNING, logger="streamclip"):
        assert resolve_hardware(default, has_gpu=False) == default
    assert not caplog.records


def test_check_encoder_passes_for_libx264() -> None:
    check_encoder("libx264")


def test_check_encoder_names_encoder_and_binary() -> None:
    if "libopenh264" in available_encoders():
        pytest.skip(f"{ffmpeg_binary()} has libopenh264")
    with pytest.raises(ConfigError) as caught:
        check_encoder("libopenh264")
    message = str(caught.value)
    assert "libopenh264" in message
    assert ffmpeg_binary() in message
    assert "libx264" in message  # and says what this build does have


def test_fast_cpu_profile_keeps_the_default_decisions() -> None:
    default, fast = load_config("default"), load_config("fast-cpu")
    assert fast.spans == default.spans
    assert fast.detector.threshold == default.detector.threshold
    assert (fast.detector.engine, fast.detector.precision, fast.detector.batch_windows) == ("openvino", "int8", 1)
    assert fast.transcode.preset == "veryfast"  # PySceneDetect's own preset: a like-for-like comparison


def test_default_profile_runs_the_reference_decisions_on_openvino_and_nvidia_stays_torch() -> None:
    default, nvidia = load_config("default").detector, load_config("nvidia").detector
    assert (default.engine, default.precision) == ("openvino", "fp32")
    assert (nvidia.engine, nvidia.device) == ("torch", "cuda")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (["detector.engine=torch", "detector.precision=int8"], ["'torch'", "'int8'"]),
        (["detector.engine=openvino", "detector.precision=fast"], ["'openvino'", "'fast'"]),
        (["detector.engine=openvino", "detector.device=cuda"], ["'openvino'", "'cuda'"]),
    ],
)
def test_an_impossible_engine_and_precision_is_a_config_error_naming_both(
    settings: list[str], named: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("default", settings)
    assert all(name in str(caught.value) for name in named), caught.value
