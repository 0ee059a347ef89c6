"""`ServeConfig`: what the ingest daemon watches, where it writes, and how it runs (strict TOML).

Relative paths in a config file are taken relative to the file's folder, so a config can travel
with its data. `settings_hash` names the settings that shape the output: a source is processed
once per (content, settings hash).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

import msgspec

from streamclip.config import PipelineConfig, RayConfig, StageConfig, _explain, load_config
from streamclip.errors import ConfigError
from streamclip.ingest.streams import StreamRetry
from streamclip.ingest.watcher import SymlinkPolicy
from streamclip.sources import classify, url_scheme

LEDGER_DIR = ".streamclip"  # inside the output folder; not the pipeline's `.streamclip-work-*`
LEDGER_NAME = "ledger.sqlite"


class ServeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of `streamclip serve`, top-level keys of its TOML file (`watch` builds one too)."""

    watch: list[str] = msgspec.field(default_factory=list)  # folders; may be empty when `streams` is set
    output: str
    profile: str = "default"
    overrides: list[str] = msgspec.field(name="set", default_factory=list)
    max_videos_in_flight: int = 2
    drain_timeout_s: float = 30.0
    metrics_address: str = "127.0.0.1:9464"  # "" turns the HTTP endpoint off
    ledger: str = ""  # "" = OUT/.streamclip/ledger.sqlite
    settle_s: float = 5.0
    rescan_s: float = 60.0
    incomplete_wait_s: float = 300.0
    quarantine_dir: str = ""  # "" = record bad files in the ledger, leave them where they are
    symlinks: SymlinkPolicy = "inside"  # take a link only if its target is in a watched folder
    candidates: int = 16  # capacity of the watcher -> daemon channel
    report: bool = False  # keep the review site OUT/report/ current; served on metrics_address
    # A [ray] table runs the pipeline on a Ray cluster; max_videos_in_flight then counts for the
    # whole cluster (actors x ray.max_videos_in_flight keeps every pipeline busy).
    ray: RayConfig | None = None
    # Growing files (MPEG-TS, Matroska/WebM, FLV, fragmented MP4) are started as soon as their first
    # seconds probe, and finished once they have not grown for the profile's limits.follow_idle_s.
    follow: bool = False
    # Stream URLs kept open: each is submitted again after a session ends (streamclip.ingest.streams).
    streams: list[str] = msgspec.field(default_factory=list)
    stream_retry_s: float = 1.0  # the first wait before reopening; doubled after each session ...
    stream_retry_max_s: float = 60.0  # ... up to this
    stream_reset_after_s: float = 60.0  # a session that ran this long resets the wait to stream_retry_s
    # Curation stages of one's own (`[[stages]] use = "package.module:Factory"` + `[stages.settings]`),
    # run after the profile's: part of the settings hash, so changing them processes sources again.
    stages: list[StageConfig] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.watch and not self.streams:
            raise ValueError("watch: at least one folder (or a streams URL) is needed")
        if self.streams and self.ray is not None:
            raise ValueError("streams are read once, on this machine: not with a [ray] table")
        if not self.output:
            raise ValueError("output: an output folder is needed")
        if self.max_videos_in_flight < 1 or self.candidates < 1:
            raise ValueError("max_videos_in_flight and candidates must be at least 1")
        if self.drain_timeout_s < 0 or self.settle_s <= 0 or self.rescan_s <= 0 or self.incomplete_wait_s < 0:
            raise ValueError("drain_timeout_s and incomplete_wait_s must be >= 0, settle_s and rescan_s > 0")
        if self.metrics_address:
            parse_address(self.metrics_address)
        if self.output.lower().startswith("s3://") and not self.ledger:
            raise ValueError("output is an s3:// prefix: set ledger to a local file (the daemon's ledger stays local)")
        if self.output.lower().startswith("s3://") and self.report:
            raise ValueError(
                "report: the live review site needs a local output folder (output is an s3:// prefix; "
                "`streamclip report s3://...` writes the site into the bucket)"
            )
        self.stream_retry()  # checks the stream_* keys
        for url in self.streams:
            if url_scheme(url) is None:
                raise ValueError(
                    f"streams: {url!r} is not a URL (srt://, rtmp://, rtsp://, udp://, tcp://, http(s)://)"
                )
            classify(url)  # an unknown scheme is refused, naming the URL without its secrets

    def stream_retry(self) -> StreamRetry:
        return StreamRetry(
            retry_s=self.stream_retry_s, retry_max_s=self.stream_retry_max_s, reset_after_s=self.stream_reset_after_s
        )

    @property
    def ledger_path(self) -> Path:
        return Path(self.ledger) if self.ledger else default_ledger(Path(self.output))

    def pipeline_config(self) -> PipelineConfig:
        """The profile with `set` applied and `stages` after its own; each stream holds a decoder for
        as long as it runs, so `decode.max_videos` grows by one per stream (the watched files keep
        their share)."""
        config = load_config(self.profile, self.overrides)
        if self.stages:
            config = msgspec.structs.replace(config, stages=[*config.stages, *self.stages])
        if not self.streams:
            return config
        decode = msgspec.structs.replace(config.decode, max_videos=config.decode.max_videos + len(self.streams))
        return msgspec.structs.replace(config, decode=decode)


def default_ledger(output: Path) -> Path:
    return output / LEDGER_DIR / LEDGER_NAME


def parse_address(address: str) -> tuple[str, int]:
    """'host:port' (IPv6 as '[::1]:9464') -> (host, port); ValueError when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"metrics_address: expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def load_serve_config(path: str | os.PathLike[str]) -> ServeConfig:
    """Read a serve TOML file strictly; paths inside it are relative to its folder."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    try:
        config = msgspec.convert(data, ServeConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{file}: {_explain(exc)}") from None
    return anchored(config, file.resolve().parent)


def anchored(config: ServeConfig, base: Path) -> ServeConfig:
    """Make every path of `config` absolute, relative ones taken from `base`."""

    def absolute(value: str) -> str:
        if not value or value.lower().startswith("s3://"):  # an S3 prefix is not a path
            return value
        return str(base / Path(value).expanduser())

    profile = config.profile
    if Path(profile).suffix:  # a TOML file rather than a bundled profile name
        profile = absolute(profile)
    return msgspec.structs.replace(
        config,
        watch=[absolute(folder) for folder in config.watch],
        output=absolute(config.output),
        profile=profile,
        ledger=absolute(config.ledger),
        quarantine_dir=absolute(config.quarantine_dir),
    )


# Settings that change speed or memory, never the clips: left out of the settings hash so that
# tuning them does not make the daemon redo finished sources.
_TUNING: dict[str, tuple[str, ...]] = {
    "decode": ("chunk_frames", "max_videos"),
    # the engine too: openvino fp32 is the reference's decisions; int8 and bf16 are precisions (hashed)
    "detector": ("batch_windows", "max_wait_ms", "torch_threads", "engine", "model_cache"),
    "transcode": ("workers", "keep_buffer"),
    "frames": ("workers",),
    "live": ("decisions_part_s",),  # how the decisions files are cut, not what they say
}
_NOT_OUTPUT = ("name", "description", "channels", "limits", "resources", "storage")


def settings_hash(config: PipelineConfig) -> str:
    """sha256 of the config as JSON, without names, channel sizes, time limits and worker counts."""
    data = msgspec.to_builtins(config)
    for key in _NOT_OUTPUT:
        data.pop(key, None)
    for section, keys in _TUNING.items():
        for key in keys:
            data[section].pop(key, None)
    encoded = msgspec.json.encode(data, order="sorted")
    return hashlib.sha256(encoded).hexdigest()[:16]
