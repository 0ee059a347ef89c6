"""argv builders for every ffmpeg command streamclip runs (pure functions; `children.py` runs them).

Paths are passed as `file:<absolute path>` so names with a ':' or a leading '-' are never read as
a protocol or an option, and every local input is opened with `-protocol_whitelist file` and a
`-format_whitelist` of the demuxers that read only that file (`local_input`): a playlist or
concat list dropped into a watched folder is refused, never followed to other files or URLs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from streamclip.contract.types import VideoMetadata
from streamclip.ffmpeg.children import ffmpeg_binary, single_file_demuxers

DETECTOR_WIDTH, DETECTOR_HEIGHT = 48, 27
# Audio codecs the MP4 muxer takes as they are; anything else is re-encoded to AAC.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "opus", "alac", "flac"})
EVEN_SIZE = "scale=trunc(iw/2)*2:trunc(ih/2)*2"  # what every player takes (4:2:0 needs even sides)
MP4_TAIL = ["-sn", "-dn", "-movflags", "+faststart", "-f", "mp4"]
ENCODER_DEFAULT_ARGS: dict[str, list[str]] = {
    "libx264": [],
    "libopenh264": [],
    "h264_nvenc": ["-rc", "vbr"],
    "libvpx-vp9": ["-row-mt", "1", "-deadline", "good", "-cpu-used", "4"],
}


def file_url(path: str | os.PathLike[str]) -> str:
    return "file:" + os.path.abspath(os.fspath(path))


def local_input(path: str | os.PathLike[str], *, follow_idle_s: float | None = None) -> list[str]:
    """`-i file:<path>` for a local file, limited to the file protocol and single-file demuxers.

    `follow_idle_s` reads a growing file as it grows (`-follow 1`: at its end the file protocol
    waits for more) and ends it once it has not grown for that long (`-rw_timeout`, in µs). It is
    read as not seekable (`-seekable 0`): else the MPEG-TS demuxer reads to the end of the file to
    estimate its duration before the first frame, and never gets there while the file grows.
    """
    limits = ["-format_whitelist", ",".join(sorted(single_file_demuxers()))]  # fails closed
    follow = [] if follow_idle_s is None else ["-follow", "1", "-seekable", "0", "-rw_timeout", _micros(follow_idle_s)]
    return ["-protocol_whitelist", "file", *limits, *follow, "-i", file_url(path)]


def _micros(seconds: float) -> str:
    return str(max(int(seconds * 1_000_000), 1))


def source_input(path: str, *, follow_idle_s: float | None = None) -> list[str]:
    """`local_input`, or for an `s3://` / `http(s)://` source the URL ffmpeg reads its byte ranges
    from (`streamclip.storage.remote`)."""
    from streamclip.storage import remote

    if remote.is_remote(path):
        return remote.ffmpeg_input(path)
    return local_input(path, follow_idle_s=follow_idle_s)


def _seconds(value: float) -> str:
    return f"{value:.6f}"


def ffmpeg_base() -> list[str]:
    """The start of every ffmpeg argv: no banner, no stdin, errors only."""
    return [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error"]


def decode_argv(
    meta: VideoMetadata, *, hwaccel: bool = False, threads: int = 1, follow_idle_s: float | None = None
) -> list[str]:
    """First video stream -> 48x27 RGB24 at constant rate `meta.fps` on stdout.

    The explicit `-fps_mode cfr -r fps` keeps frame index i at time i/fps on variable-frame-rate
    sources (a bare rawvideo pipe duplicates frames to a guessed rate). `hwaccel` decodes on an
    NVIDIA GPU (NVDEC through ffmpeg's `-hwaccel cuda`; frames come back to host memory to scale).
    `follow_idle_s` reads a growing file (see `local_input`).
    """
    return [
        *ffmpeg_base(),
        *(["-hwaccel", "cuda"] if hwaccel else []),
        "-threads", str(threads),
        *source_input(meta.path, follow_idle_s=follow_idle_s),
        "-map", "0:v:0",
        "-filter_threads", str(threads),
        "-fps_mode", "cfr",
        "-r", repr(meta.fps),
        "-s", f"{DETECTOR_WIDTH}x{DETECTOR_HEIGHT}",
        "-pix_fmt", "rgb24",
        "-f", "rawvideo",
        "pipe:1",
    ]  # fmt: skip


def transcode_argv(
    meta: VideoMetadata,
    start_s: float,
    end_s: float,
    output: str,
    *,
    encoder: str = "libx264",
    threads: int = 1,
    input_threads: int = 1,
    preset: str = "",
    use_input_bit_rate: bool = False,
    use_hwaccel: bool = False,
    seek_back_s: float = 0.0,
) -> list[str]:
    """One clip `[start_s, end_s)` of the source, re-encoded to an MP4 that plays while downloading.

    `input_threads` decode the source, `threads` run the encoder (see `streamclip.ffmpeg.threads`).
    `seek_back_s` seeks the input that far before the span and cuts the rest exactly on the
    output side, for inputs whose seek may land *after* the target (see `live.follow`).
    """
    argv = ffmpeg_base()
    if use_hwaccel:
        argv += ["-hwaccel", "cuda"]
    seek_s = max(start_s - seek_back_s, 0.0)
    window = ["-to", _seconds(end_s)] if seek_s == start_s else []
    argv += ["-threads", str(input_threads), "-ss", _seconds(seek_s), *window]
    argv += [*source_input(meta.path), "-map", "0:v:0", "-map", "0:a:0?"]
    if not window:
        argv += ["-ss", _seconds(start_s - seek_s), "-t", _seconds(end_s - start_s)]
    bit_rate_k = (meta.bit_rate_k or 0) if use_input_bit_rate else 0
    audio = "copy" if (meta.audio_codec or "") in MP4_AUDIO_CODECS else "aac"
    return argv + clip_output_args(meta, output, encoder=encoder, threads=threads, preset=preset,
                                   bit_rate_k=bit_rate_k, audio_codec=audio)  # fmt: skip


def clip_output_args(
    meta: VideoMetadata,
    output: str,
    *,
    encoder: str,
    threads: int,
    preset: str = "",
    bit_rate_k: int = 0,
    video_filters: Sequence[str] = (),
    audio_codec: str,
) -> list[str]:
    """The output side of every clip, from a file or from a live spool: `video_filters` (the live
    cut's trim chain) then even dimensions, the encoder with its defaults, 8-bit 4:2:0 (10-bit and
    4:4:4 sources included), and an MP4 that plays while downloading (`+faststart`)."""
    filters = [*video_filters, *([EVEN_SIZE] if meta.width % 2 or meta.height % 2 else [])]
    args = ["-vf", ",".join(filters)] if filters else []
    args += ["-c:v", encoder, *ENCODER_DEFAULT_ARGS.get(encoder, []), "-threads", str(threads)]
    if preset:
        args += ["-preset", preset]
    if bit_rate_k:
        args += ["-b:v", f"{bit_rate_k}k"]
    if meta.pixel_format != "yuv420p":
        args += ["-pix_fmt", "yuv420p"]
    return [*args, "-c:a", audio_codec, *MP4_TAIL, "-y", output]


def frames_argv(
    clip_path: str,
    fps: float,
    *,
    size: tuple[int, int] | None = None,
    select: Sequence[int] = (),
    from_index: int = 0,
    threads: int = 1,
    output: str = "pipe:1",
) -> list[str]:
    """Chosen frames of a clip as RGB24 on stdout, at constant rate `fps`, optionally scaled to (height, width).

    The frames written are those whose index (at rate `fps`) is in `select` or at least
    `from_index` (0: every frame). Only those are converted and scaled: the `fps` filter makes the
    rate constant inside the graph (as `-fps_mode cfr -r` does at the output), `select` drops the
    others before the output's scaler, and `passthrough` keeps the output from filling the gaps.
    """
    graph = f"fps={fps!r}"
    if from_index > 0:
        terms = [f"eq(n\\,{index})" for index in sorted(set(select)) if index < from_index]
        graph += ",select=" + _sum([*terms, f"gte(n\\,{from_index})"])
    argv = [*ffmpeg_base(), "-threads", str(threads), *source_input(clip_path), "-map", "0:v:0"]
    argv += ["-filter_threads", str(threads), "-vf", graph, "-fps_mode", "passthrough"]
    if size is not None:
        height, width = size
        argv += ["-s", f"{width}x{height}"]
    target = output if output.startswith("pipe:") else file_url(output)
    return [*argv, "-pix_fmt", "rgb24", "-f", "rawvideo", "-y", target]


def frame_count_argv(clip_path: str, fps: float, *, threads: int = 1) -> list[str]:
    """A clip decoded at constant rate `fps` and discarded; `-progress` prints `frame=N` at the end."""
    return [*ffmpeg_base(), "-threads", str(threads), *source_input(clip_path), "-map", "0:v:0",
            "-vf", f"fps={fps!r}", "-f", "null", "-progress", "pipe:1", "-nostats", "-"]  # fmt: skip


def _sum(terms: list[str]) -> str:
    """`a+b+…` as a balanced tree: ffmpeg's expression parser nests at most 100 deep (a flat sum of
    more than about 100 terms fails with "Cannot allocate memory")."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_sum(terms[:half])})+({_sum(terms[half:])})"


def preview_argv(
    clip_path: str,
    output: str,
    *,
    fps: float,
    height: int,
    quality: int,
    compression_level: int,
    single_frame: bool = False,
    threads: int = 1,
) -> list[str]:
    """An animated WebP of a clip, as NeMo Curator's `PreviewStage` makes it: `fps` frames a second
    scaled to `height` (width keeps the aspect ratio), lossy libwebp at `quality` and
    `compression_level`, looping forever. `single_frame` takes the first frame alone (a clip
    shorter than one frame interval, of which the `fps` filter would keep no frame at all)."""
    graph = f"scale=-1:{height}" if single_frame else f"fps={fps!r},scale=-1:{height}"
    argv = [*ffmpeg_base(), "-threads", str(threads), *source_input(clip_path), "-map", "0:v:0"]
    argv += ["-filter_threads", str(threads), "-vf", graph, *(["-frames:v", "1"] if single_frame else [])]
    argv += ["-c:v", "libwebp", "-lossless", "0", "-compression_level", str(compression_level)]
    argv += ["-q:v", str(quality), "-loop", "0", "-an", "-f", "webp", "-y", file_url(output)]
    return argv
