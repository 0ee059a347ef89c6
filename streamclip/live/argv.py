"""argv builders for live sources (pure functions; `streamclip.ffmpeg.children` runs them).

- the reader: reads the source once and stream-copies its first video and audio streams into
  short MPEG-TS segments (the spool), listed in a CSV as each one is finished;
- the decoder: the spool's segments fed on stdin, 48x27 RGB24 out, one frame per decoded frame;
- a clip: the segments covering a span, joined with the `concat` protocol, cut by frame number.

A network source is opened with the protocols its scheme needs and nothing else (never `file`:
an HLS playlist on a server must not make ffmpeg read local files); the spool's own files are
read with `file,concat` and the `mpegts` demuxer only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from streamclip.config import LiveConfig
from streamclip.contract.types import VideoMetadata
from streamclip.ffmpeg.argv import DETECTOR_HEIGHT, DETECTOR_WIDTH, clip_output_args, ffmpeg_base
from streamclip.sources import STDIN, redact, url_scheme

SEGMENT_PATTERN = "seg%06d.ts"
SEGMENT_LIST = "segments.csv"
# What each scheme needs ffmpeg to be allowed to open (HLS: the playlist, then its segments).
_PROTOCOLS: dict[str, str] = {
    "srt": "srt,udp",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tcp,tls",
    "rtmpt": "rtmpt,ffrtmphttp,http,tcp",
    "rtsp": "rtsp,rtp,srtp,udp,tcp,tls",
    "rtsps": "rtsps,rtsp,rtp,srtp,udp,tcp,tls",
    "udp": "udp",
    "rtp": "rtp,udp",
    "tcp": "tcp",
    "http": "http,https,tcp,tls,crypto,hls",
    "https": "http,https,tcp,tls,crypto,hls",
}


# A short analysis of the input (ffmpeg's default is 5 s of stream, read before anything comes
# out): the reader copies and the decoder decodes, both need only the codecs' parameters, and every
# second here is latency (and a burst into the spool afterwards).
SHORT_PROBE = ["-analyzeduration", "1000000", "-probesize", "1000000"]


def source_input(source: str, config: LiveConfig) -> list[str]:
    """The input options and `-i` of a live source: stdin, or a URL with its protocols and timeouts."""
    if source == STDIN:
        return ["-protocol_whitelist", "pipe", "-i", "pipe:0"]
    scheme = url_scheme(source) or ""
    options = [arg for key, value in _input_options(scheme, config) for arg in (f"-{key}", value)]
    return ["-protocol_whitelist", _PROTOCOLS.get(scheme, scheme), *options, "-i", source]


class ReaderCommand(NamedTuple):
    """The reader's command line, and `listing` (when set) to write to its stdin, then close it."""

    argv: list[str]
    listing: bytes | None = None


def reader_input(source: str, config: LiveConfig) -> ReaderCommand:
    """The reader's input arguments: `source_input`, except that a URL holding a secret (a password,
    an RTMP stream key, an SRT passphrase, a token in its path or query: whatever `redact` would
    hide) never reaches the command line, which every local user can read in `/proc/PID/cmdline`: ffmpeg's `concat`
    demuxer reads a one-entry list from the reader's stdin (a pipe only this process holds), the
    URL and its options in it. The list is read before anything is opened; the nested input
    inherits the protocol whitelist, which still has no `file`."""
    if source == STDIN or redact(source) == source:
        return ReaderCommand(source_input(source, config))
    scheme = url_scheme(source) or ""
    lines = ["ffconcat version 1.0", f"file {_quoted(source)}"]
    lines += [f"option {key} {_quoted(value)}" for key, value in _input_options(scheme, config)]
    lines += [f"option {key} {value}" for key, value in zip(SHORT_PROBE[::2], SHORT_PROBE[1::2], strict=True)]
    args = ["-protocol_whitelist", f"pipe,{_PROTOCOLS.get(scheme, scheme)}", "-f", "concat", "-safe", "0"]
    return ReaderCommand([*args, "-i", "pipe:0"], ("\n".join(lines) + "\n").encode())


def _input_options(scheme: str, config: LiveConfig) -> list[tuple[str, str]]:
    """The timeouts (and HLS's start) of a network source, as ffmpeg option names and values."""
    timeout_us = str(int(config.read_timeout_s * 1_000_000))
    if scheme in ("http", "https"):
        return [("rw_timeout", timeout_us), ("live_start_index", str(config.hls_live_start_index))]
    if scheme in ("rtsp", "rtsps", "udp", "rtp"):
        return [("timeout", timeout_us)]
    if scheme in ("tcp", "srt", "rtmp", "rtmps", "rtmpt"):
        return [("rw_timeout", timeout_us)]
    return []


def _quoted(value: str) -> str:
    """`value` as one ffconcat token: single-quoted, a quote as `'\\''`. A line break would end the
    directive (and could start another), so it is refused."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{redact(value)}: a line break or NUL in a source URL")
    return "'" + value.replace("'", "'\\''") + "'"


def reader_command(source: str, spool: Path, config: LiveConfig, *, duration_s: float | None = None) -> ReaderCommand:
    """Read `source` once into `spool`: segments of about `segment_s` (cut at keyframes), listed in
    SEGMENT_LIST when finished. Stream copy, so it costs almost no CPU and never waits on decoding.

    ffmpeg drops the packets before the first keyframe (no `-copyinkf`), so every segment's
    video packets decode to as many frames: the spool's frame numbering is the decoder's.
    """
    # A short analysis (ffmpeg's default is 5 s of stream, read before anything is written): stream
    # copy only needs the codecs' parameters, and every second here is latency and a burst later.
    given = reader_input(source, config)
    argv = [
        *ffmpeg_base(),
        *SHORT_PROBE,
        *given.argv,
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
    ]
    if duration_s is not None:
        argv += ["-t", f"{duration_s:.3f}"]
    argv += [
        "-f", "segment", "-segment_format", "mpegts", "-segment_time", f"{config.segment_s:g}",
        "-segment_list", str(spool / SEGMENT_LIST), "-segment_list_type", "csv",
        "-reset_timestamps", "0", "-y", str(spool / SEGMENT_PATTERN),
    ]  # fmt: skip
    return ReaderCommand(argv, given.listing)


def decode_argv(*, threads: int = 1) -> list[str]:
    """The spool's segments (MPEG-TS, concatenated on stdin) -> 48x27 RGB24 on stdout.

    `-fps_mode passthrough`: one output frame per decoded frame, so a timestamp jump in the stream
    never turns into hours of duplicated frames; frame i is then at i/fps at the stream's nominal
    rate (that of its first segment).
    """
    return [
        *ffmpeg_base(), "-threads", str(threads), *SHORT_PROBE,
        "-protocol_whitelist", "pipe", "-f", "mpegts", "-i", "pipe:0",
        "-map", "0:v:0", "-fps_mode", "passthrough",
        "-s", f"{DETECTOR_WIDTH}x{DETECTOR_HEIGHT}", "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1",
    ]  # fmt: skip


def clip_argv(
    segments: Sequence[Path],
    first_frame: int,
    frames: int,
    meta: VideoMetadata,
    output: str,
    *,
    encoder: str = "libx264",
    threads: int = 1,
    preset: str = "",
) -> list[str]:
    """Frames `[first_frame, first_frame + frames)` counted from the start of `segments` (joined),
    re-encoded at the nominal rate to an MP4 that plays while downloading; the first audio stream
    trimmed to the same times (counted from its first sample, so approximate by up to a frame)."""
    fps = meta.fps
    start_s, end_s = first_frame / fps, (first_frame + frames) / fps
    trim = f"trim=start_frame={first_frame}:end_frame={first_frame + frames},setpts=N/({fps!r}*TB)"
    audio = f"asetpts=PTS-STARTPTS,atrim=start={start_s:.6f}:end={end_s:.6f},asetpts=PTS-STARTPTS"
    joined = "concat:" + "|".join(str(path) for path in segments)
    argv = [*ffmpeg_base(), "-threads", "1", "-protocol_whitelist", "file,concat", "-f", "mpegts", "-i", joined]
    argv += ["-map", "0:v:0", "-map", "0:a:0?", "-af", audio, "-r", repr(fps)]
    # the audio is trimmed, so re-encoded
    return argv + clip_output_args(meta, output, encoder=encoder, threads=threads, preset=preset,
                                   video_filters=[trim], audio_codec="aac")  # fmt: skip


def count_packets_argv(ffprobe: str, segment: Path) -> list[str]:
    """The number of video packets in one finished segment (= frames it decodes to)."""
    return [
        ffprobe, "-v", "error", "-protocol_whitelist", "file", "-f", "mpegts", "-select_streams", "v:0",
        "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", f"file:{segment}",
    ]  # fmt: skip
