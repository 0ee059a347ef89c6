"""`PipelineConfig` and its sections; strict TOML profile loading (an unknown key is an error naming it)."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from streamclip.errors import ConfigError

_STRICT = {"frozen": True, "kw_only": True, "forbid_unknown_fields": True}


class DecodeConfig(msgspec.Struct, **_STRICT):
    # "cpu": ffmpeg; "nvdec": ffmpeg -hwaccel cuda; "pynvc": PyNvVideoCodec into GPU memory (actors/pynvc_decode.py)
    backend: Literal["cpu", "nvdec", "pynvc"] = "cpu"
    chunk_frames: int = 25  # frames per item on the frames channel
    max_videos: int = 2  # videos decoded at once (their windows share detector batches)


# `detector.threshold` left unset: the chosen model's default (streamclip.detector.catalog), filled in
# when the config is made, so every reader (and the settings hash) sees a number.
MODEL_DEFAULT_THRESHOLD = -1.0


class DetectorConfig(msgspec.Struct, **_STRICT):
    # "transnetv2" (Curator's) or "autoshot" (more recall; README, "Choosing the detector model")
    model: Literal["transnetv2", "autoshot"] = "transnetv2"
    # frame f is a transition iff p[f] > threshold; unset: the model's, 0.4 for TransNetV2 (Curator's),
    # 0.296 for AutoShot (its authors')
    threshold: float = MODEL_DEFAULT_THRESHOLD
    device: str = "cpu"
    # "torch": the reference (and the GPU path); "openvino": CPU, from a cached model (streamclip.detector.models)
    engine: Literal["torch", "openvino"] = "openvino"
    # torch: fp32, fast, bf16, fp16 (GPU); openvino: fp32, bf16, int8 (bf16 only where the CPU computes it natively)
    precision: Literal["fp32", "fast", "bf16", "fp16", "int8"] = "fp32"
    batch_windows: int = 1  # on CPU a bigger batch is no faster per window and peaks +150 MB per window
    max_wait_ms: float = 20.0
    torch_threads: int = (
        0  # the detector's threads, either engine; 0: derived from resources.cpus and workers (streamclip/threads.py)
    )
    model_cache: str = ""  # OpenVINO model cache folder; "" = $STREAMCLIP_CACHE_DIR, else ~/.cache/streamclip

    def __post_init__(self) -> None:
        if self.threshold == MODEL_DEFAULT_THRESHOLD:
            from streamclip.detector.catalog import DEFAULT_THRESHOLDS  # light: names and numbers

            msgspec.structs.force_setattr(self, "threshold", DEFAULT_THRESHOLDS[self.model])


class SpansConfig(msgspec.Struct, **_STRICT):
    mode: Literal["scene", "fixed_stride"] = "scene"
    min_length_s: float | None = 2.0
    max_length_s: float | None = 10.0
    max_length_mode: Literal["stride", "truncate"] = "stride"
    crop_s: float | None = 0.5
    entire_scene_as_clip: bool = True
    limit_clips: int = 0
    # "curator": scenes as NeMo Curator 1.4.0 forms them, for its clip ids (a video's last frame is in
    # no scene once it has a transition; a transition at frame 0 closes none); "runs": maximal runs
    # of non-transition frames (streamclip.contract.rules._scenes)
    scene_edges: Literal["curator", "runs"] = "curator"
    clip_len_s: float = 10.0
    clip_stride_s: float = 10.0
    min_clip_length_s: float = 2.0


class TranscodeConfig(msgspec.Struct, **_STRICT):
    encoder: Literal["libx264", "libopenh264", "h264_nvenc", "libvpx-vp9"] = "libx264"
    encoder_threads: int = 0  # 0: derived from resources.cpus and workers (streamclip/threads.py)
    preset: str = ""  # encoder preset; "" keeps the encoder's default
    use_input_bit_rate: bool = False
    use_hwaccel: bool = False  # decode the source with CUDA when encoding with NVENC
    workers: int = 2
    keep_buffer: bool = False  # also keep the encoded bytes in Clip.buffer when writing to disk


class FramesConfig(msgspec.Struct, **_STRICT):
    enabled: bool = True
    policies: list[Literal["sequence", "middle"]] = msgspec.field(default_factory=lambda: ["sequence"])
    target_fps: list[float] = msgspec.field(default_factory=lambda: [2.0])
    target_res: tuple[int, int] | None = None  # (height, width)
    write: bool = False  # also write OUT/frames/<uuid>.npz
    workers: int = 1


class LimitsConfig(msgspec.Struct, **_STRICT):
    """Time limits: every ffmpeg/ffprobe child is killed and reported when it runs past them."""

    probe_timeout_s: float = 60.0
    floor_s: float = 60.0  # every transcode / frame extraction gets at least this long
    per_media_s: float = 30.0  # plus this much per second of media it processes
    decode_idle_s: float = 120.0  # a decoder that writes nothing this long while read is killed
    follow_idle_s: float = 10.0  # a followed (growing) file is finished once it has not grown this long

    def for_media(self, duration_s: float) -> float:
        return self.floor_s + self.per_media_s * max(duration_s, 0.0)


class LiveConfig(msgspec.Struct, **_STRICT):
    """Sources read once (stdin, network streams): their spool on local disk and their time limits."""

    segment_s: float = 1.0  # spool segment length (cut at the next keyframe): the decoder's latency floor
    spool_max_mb: float = 1024.0  # a source whose spool would outgrow this fails; its open scene is cut at 1/2
    read_timeout_s: float = 15.0  # a source that sends nothing this long (none at all, or no more) ends
    max_lag_s: float = 30.0  # behind live by more than this: a warning is logged
    hls_live_start_index: int = -3  # HLS: the segment to start at (ffmpeg's default: 3 from the live end; 0: first)
    decisions_part_s: float = 600.0  # a session's decisions are written in parts of about this much stream

    def __post_init__(self) -> None:
        if self.segment_s <= 0 or self.spool_max_mb <= 0 or self.read_timeout_s <= 0 or self.max_lag_s <= 0:
            raise ValueError("live: segment_s, spool_max_mb, read_timeout_s and max_lag_s must be > 0")
        if self.decisions_part_s <= 0:
            raise ValueError("live: decisions_part_s must be > 0")


class ChannelsConfig(msgspec.Struct, **_STRICT):
    jobs: int = 4
    frames: int = 8
    probabilities: int = 16
    spans: int = 8
    clips: int = 4
    events: int = 16


class ResourcesConfig(msgspec.Struct, **_STRICT):
    """What one pipeline asks of a machine: Ray places each pipeline actor with these.

    On one machine they are not enforced. `cpus` should cover the transcode workers plus the
    detector; `gpus` may be a fraction, to pack several pipelines on one GPU.
    """

    cpus: float = 2.0
    gpus: float = 0.0


class StorageConfig(msgspec.Struct, **_STRICT):
    """Object storage (`s3://` sources and outputs; streamclip.storage). Credentials are never keys
    here: they come from the AWS environment (AWS_ACCESS_KEY_ID, ...) or a profile's files."""

    endpoint_url: str = ""  # "" = $AWS_ENDPOINT_URL, else AWS; http://host:port for a local S3-compatible server
    region: str = ""  # "" = $AWS_REGION / $AWS_DEFAULT_REGION / the profile's, else us-east-1
    profile: str = ""  # "" = $AWS_PROFILE, else "default" (read only when the environment has no keys)
    request_timeout_s: float = 120.0  # one request (a part of a multipart upload included)
    retry_timeout_s: float = 20.0  # give up on an unreachable server after retrying this long
    presign_expiry_s: float = 60.0  # each signed URL the loopback proxy reads a source with (one request)
    multipart_chunk_mb: int = 16  # objects larger than this are uploaded in parts of this size


class RayConfig(msgspec.Struct, **_STRICT):
    """Running on Ray: where, how many pipelines, how much work each may hold, how often to retry."""

    address: str = "local"  # "local" starts a Ray runtime here; else "auto", "HOST:6379" or "ray://HOST:10001"
    actors: int = 0  # pipelines (Ray actors); 0 = as many as the cluster's resources fit
    max_videos_in_flight: int = 2  # per actor: videos submitted to it and not yet done
    max_attempts: int = 3  # a video whose worker dies this many times fails, naming why
    hang_timeout_s: float = 600.0  # a worker holding videos, with no event and no progress this long, is lost; 0: never
    namespace: str = "streamclip"

    def __post_init__(self) -> None:
        if not self.address:
            raise ValueError("ray.address: 'local' or a cluster address is needed")
        if self.hang_timeout_s < 0:
            raise ValueError("ray.hang_timeout_s must be >= 0 (0: hung workers are not looked for)")
        if self.actors < 0 or self.max_videos_in_flight < 1 or self.max_attempts < 1:
            raise ValueError("ray: actors must be >= 0, max_videos_in_flight and max_attempts >= 1")


class MotionConfig(msgspec.Struct, **_STRICT):
    """NeMo Curator's motion filter after the split (`streamclip.stages.motion`); names and defaults
    are Curator's `MotionFilterStage` ones. Off by default, so outputs do not change."""

    enabled: bool = False
    global_mean_threshold: float = 0.00098
    per_patch_min_256_threshold: float = 0.000001
    score_only: bool = False  # record the scores, drop nothing
    workers: int = 1  # clips scored at once (each decodes on one thread)

    def __post_init__(self) -> None:
        thresholds = (self.global_mean_threshold, self.per_patch_min_256_threshold)
        if not all(math.isfinite(value) and value >= 0 for value in thresholds):
            raise ValueError("motion: thresholds must be finite and >= 0")


class DedupConfig(msgspec.Struct, **_STRICT):
    """Near-duplicate flags (`streamclip.stages.dedup`): a perceptual hash per clip, compared with
    the clips seen before (in this run, or in `index` across runs)."""

    enabled: bool = False
    max_distance: int = 8  # bits of 64: a clip this close to an earlier one is its near-duplicate
    drop: bool = False  # also filter the duplicates out (kept and flagged by default)
    index: str = ""  # a SQLite file kept across runs; "" = in memory for one run (the daemon: beside its ledger)
    concurrency: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.max_distance <= 16:
            raise ValueError("dedup.max_distance must be between 0 and 16 bits")
        if self.concurrency < 1:
            raise ValueError("dedup.concurrency must be at least 1")


class PreviewConfig(msgspec.Struct, **_STRICT):
    """Animated WebP previews (`streamclip.stages.preview`); the defaults are NeMo Curator's
    `PreviewStage`'s."""

    enabled: bool = False
    target_fps: float = 1.0
    target_height: int = 240
    quality: int = 50  # libwebp -q:v, 0 (worst) .. 100
    compression_level: int = 6  # libwebp effort, 0 (fast) .. 6 (smallest)
    threads: int = 1  # ffmpeg threads per preview (Curator gives each preview 4 CPUs)
    concurrency: int = 2  # previews made at once

    def __post_init__(self) -> None:
        if self.target_fps <= 0 or self.target_height < 2:
            raise ValueError("preview.target_fps must be > 0 and preview.target_height at least 2")
        if not 0 <= self.quality <= 100 or not 0 <= self.compression_level <= 6:
            raise ValueError("preview.quality must be 0..100 and preview.compression_level 0..6")
        if self.threads < 1 or self.concurrency < 1:
            raise ValueError("preview.threads and preview.concurrency must be at least 1")


class StageConfig(msgspec.Struct, **_STRICT):
    """A curation stage of one's own (`[[stages]]`): `use = "package.module:Factory"` names a
    callable that takes the `settings` table and returns a `streamclip.Stage`
    (`streamclip.stages.loading` imports it when the pipeline opens)."""

    use: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        module, sep, attribute = self.use.partition(":")
        if not sep or not module.strip() or not attribute.strip():
            raise ValueError(f"use = {self.use!r}: expected 'package.module:Factory'")


class PipelineConfig(msgspec.Struct, **_STRICT):
    name: str = "default"
    description: str = ""
    decode: DecodeConfig = msgspec.field(default_factory=DecodeConfig)
    detector: DetectorConfig = msgspec.field(default_factory=DetectorConfig)
    spans: SpansConfig = msgspec.field(default_factory=SpansConfig)
    transcode: TranscodeConfig = msgspec.field(default_factory=TranscodeConfig)
    frames: FramesConfig = msgspec.field(default_factory=FramesConfig)
    channels: ChannelsConfig = msgspec.field(default_factory=ChannelsConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    resources: ResourcesConfig = msgspec.field(default_factory=ResourcesConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    live: LiveConfig = msgspec.field(default_factory=LiveConfig)
    motion: MotionConfig = msgspec.field(default_factory=MotionConfig)
    dedup: DedupConfig = msgspec.field(default_factory=DedupConfig)
    preview: PreviewConfig = msgspec.field(default_factory=PreviewConfig)
    stages: list[StageConfig] = msgspec.field(default_factory=list)  # users' own, after the built-in ones

    def __post_init__(self) -> None:
        for section, key in _POSITIVE:
            if getattr(getattr(self, section), key) < 1:
                raise ConfigError(f"{section}.{key} must be at least 1")
        for section in ("jobs", "frames", "probabilities", "spans", "clips", "events"):
            if getattr(self.channels, section) < 1:
                raise ConfigError(f"channels.{section} must be at least 1 (no unbounded queues)")
        if self.transcode.encoder_threads < 0 or self.detector.torch_threads < 0:
            raise ConfigError("transcode.encoder_threads and detector.torch_threads must be >= 0 (0: derived)")
        if self.limits.follow_idle_s <= 0:
            raise ConfigError("limits.follow_idle_s must be > 0")
        if self.resources.cpus <= 0 or self.resources.gpus < 0:
            raise ConfigError("resources.cpus must be > 0 and resources.gpus >= 0")
        _check_detector(self.detector)
        _check_motion(self.motion, self.transcode)


def _check_motion(motion: MotionConfig, transcode: TranscodeConfig) -> None:
    # VP9 clips carry no motion vectors FFmpeg exports: Curator's rule would filter every clip.
    if motion.enabled and not motion.score_only and transcode.encoder == "libvpx-vp9":
        raise ConfigError(
            "motion: transcode.encoder libvpx-vp9 exports no motion vectors, so every clip would be "
            "filtered; use an H.264 encoder or motion.score_only = true"
        )


def _check_detector(detector: DetectorConfig) -> None:
    from streamclip.detector.engines import combination_error  # light: no torch, no openvino

    problem = combination_error(detector.engine, detector.precision, detector.device, detector.model)
    if problem:
        raise ConfigError(problem)
    if not 0.0 <= detector.threshold <= 1.0:
        raise ConfigError(f"detector.threshold must be in [0, 1] (or unset: the model's), got {detector.threshold}")


_POSITIVE = [
    ("decode", "chunk_frames"),
    ("decode", "max_videos"),
    ("detector", "batch_windows"),
    ("transcode", "workers"),
    ("frames", "workers"),
    ("motion", "workers"),
]

PROFILE_DIRS = [Path(__file__).parent / "profiles"]


def available_profiles() -> dict[str, Path]:
    """Bundled profile names -> files."""
    found: dict[str, Path] = {}
    for folder in PROFILE_DIRS:
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def load_config(profile: str | Path = "default", overrides: list[str] | None = None) -> PipelineConfig:
    """Load a bundled profile by name (or a TOML file by path), apply `section.key=value` overrides."""
    data = _read_profile(profile)
    for override in overrides or []:
        _apply_override(data, override)
    return config_from_dict(data, source=str(profile))


def config_from_dict(data: dict[str, Any], *, source: str = "config") -> PipelineConfig:
    try:
        return msgspec.convert(data, PipelineConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from None


def _explain(exc: msgspec.ValidationError) -> str:
    """msgspec's "... unknown field `k` - at `$.section`" as "unknown key section.k" (what --set takes)."""
    message, _, where = str(exc).partition(" - at `$")
    where = where.rstrip("`").lstrip(".")
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
    if unknown:
        return f"unknown key {where + '.' if where else ''}{unknown[1]}"
    return f"{where}: {message}" if where else message


def _read_profile(profile: str | Path) -> dict[str, Any]:
    path = Path(profile)
    if not path.suffix:
        profiles = available_profiles()
        if str(profile) not in profiles:
            names = ", ".join(profiles) or "none"
            raise ConfigError(f"unknown profile {str(profile)!r} (bundled profiles: {names})")
        path = profiles[str(profile)]
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"profile file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set expects section.key=value, got {override!r}")
    section, name = parts
    data.setdefault(section, {})
    if not isinstance(data[section], dict):
        raise ConfigError(f"--set {override!r}: {section!r} is not a section")
    data[section][name] = _parse_value(raw.strip())


def _parse_value(raw: str) -> Any:
    """A TOML value (`2.5`, `true`, `[1, 2]`, `"x"`); a bare word is taken as a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
