"""ffprobe JSON → VideoMetadata, with a reason a person can act on for every unusable source.

`probe` checks the file itself first (missing, directory, unreadable, empty), then runs ffprobe
through `streamclip.ffmpeg.children` and hands its JSON to `metadata_from_ffprobe`, a pure function.

Conventions:
- The video stream is the FIRST video stream that is not an attached picture (cover art).
  NeMo Curator takes the last one, which is the cover when a file has one (MP4 lists it last).
- `fps` is `avg_frame_rate`, falling back to `r_frame_rate` when it is missing or zero, so a
  variable-frame-rate source gets its true average (the decoder converts to that rate).
- `rotation` is the display-matrix rotation as ffprobe prints it (degrees counterclockwise,
  ffmpeg's convention), normalised to 0/90/180/270; a legacy `rotate` tag (clockwise) is
  converted to the same convention. At 90/270 `width`/`height` are the *displayed* size
  (swapped), because ffmpeg autorotates when it decodes.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import stat
from fractions import Fraction
from typing import Any

from streamclip.contract.types import VideoMetadata
from streamclip.errors import FFmpegError, Reason, SourceError
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import source_input
from streamclip.storage import remote

MAX_FPS = 1000.0
# Top-level ISO BMFF boxes a (possibly truncated) MP4/MOV file starts with.
_ISOBMFF_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"})
_MOOV_MISSING = "moov atom not found"
# Inputs that name other files (refused by ffargs.local_input's format whitelist), by first bytes.
_LISTS_OF_FILES = ((b"#EXTM3U", "an HLS playlist"), (b"ffconcat", "a concat list"), (b"<?xml", "an XML manifest"))


async def probe(path: str | os.PathLike[str], *, timeout_s: float = 60.0, growing: bool = False) -> VideoMetadata:
    """Describe a source video, or raise `SourceError` saying why it cannot be used.

    An ffprobe that runs past `timeout_s` is killed and raises `FFmpegError`. A `growing` file (one
    being written, followed) may have no duration yet: its first seconds must give the rest.
    """
    given = os.fspath(path)
    check = remote.check if remote.is_remote(given) else _check_file  # s3://, http(s):// (streamclip.storage)
    abspath, size, header = await asyncio.to_thread(check, given)
    await children.demuxers_ready(again=False)  # read when the pipeline opened (or now, off the loop)
    argv = [
        children.ffprobe_binary(),
        *("-v", "error", "-print_format", "json", "-show_format", "-show_streams"),
        *source_input(abspath),
    ]
    try:
        done = await children.run(argv, timeout_s=timeout_s, check=False)
    except FFmpegError as exc:
        exc.add_note(f"while probing {abspath}")
        raise
    if done.returncode != 0:
        raise SourceError(abspath, *_failure_reason(done.stderr, header, abspath))
    try:
        info = json.loads(done.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        raise SourceError(abspath, "not a video file ffprobe can read: unparseable output") from None
    return metadata_from_ffprobe(abspath, size, info, growing=growing)


def probe_sync(path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> VideoMetadata:
    """`probe` for callers without an event loop (the CLI, scripts)."""
    return asyncio.run(probe(path, timeout_s=timeout_s))


def metadata_from_ffprobe(path: str, size: int, info: dict[str, Any], *, growing: bool = False) -> VideoMetadata:
    """Build VideoMetadata from ffprobe's `-show_format -show_streams` JSON (pure); a `growing` file
    without a duration yet gets 0 (its frames are counted as they are decoded)."""
    streams: list[dict[str, Any]] = info.get("streams") or []
    fmt: dict[str, Any] = info.get("format") or {}
    video = _first_video_stream(streams)
    if video is None:
        raise SourceError(path, "no video stream (audio-only or data file)", Reason.NO_VIDEO_STREAM)
    if _is_still_image(fmt):
        raise SourceError(path, f"a still image ({fmt.get('format_name')}), not a video", Reason.NOT_A_VIDEO)
    fps = _frame_rate(video)
    if not 0 < fps <= MAX_FPS:
        raise SourceError(path, f"frame rate {fps:g} is zero or absurd", Reason.UNUSABLE_STREAM)
    duration_s = _positive_float(video.get("duration")) or _positive_float(fmt.get("duration"))
    if duration_s is None and growing:
        duration_s = 0.0
    if duration_s is None:
        raise SourceError(path, "unknown or zero duration", Reason.UNUSABLE_STREAM)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise SourceError(path, "video stream has no frame size", Reason.UNUSABLE_STREAM)
    rotation = _rotation(video)
    if rotation in (90, 270):
        width, height = height, width
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return VideoMetadata(
        path=path,
        size=size,
        width=width,
        height=height,
        fps=fps,
        num_frames=_frame_count(duration_s, fps),
        duration_s=duration_s,
        video_codec=str(video.get("codec_name") or "unknown"),
        pixel_format=str(video.get("pix_fmt") or "unknown"),
        audio_codec=str(audio["codec_name"]) if audio and audio.get("codec_name") else None,
        bit_rate_k=_bit_rate_k(fmt, video),
        rotation=rotation,
    )


# ---------------------------------------------------------------------------------------------
# The file itself


def _check_file(given: str) -> tuple[str, int, bytes]:
    """Absolute path, size and first bytes of a regular, readable, non-empty file, or SourceError."""
    path = os.path.abspath(given)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise SourceError(path, "file not found", Reason.MISSING) from None
    except PermissionError:
        raise SourceError(path, "permission denied: cannot read the file", Reason.PERMISSION) from None
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(path, "is a directory, not a video file", Reason.NOT_A_VIDEO)
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(path, "not a regular file (a pipe, socket or device)", Reason.NOT_A_VIDEO)
    if st.st_size == 0:
        raise SourceError(path, "empty file (0 bytes)", Reason.EMPTY)
    try:
        with open(path, "rb") as f:
            header = f.read(12)
    except PermissionError:
        raise SourceError(path, "permission denied: cannot read the file", Reason.PERMISSION) from None
    return path, st.st_size, header


def _failure_reason(stderr: str, header: bytes, path: str) -> tuple[str, Reason]:
    """Turn ffprobe's complaint into a reason; a missing moov only means 'incomplete' for MP4s."""
    if _MOOV_MISSING in stderr and header[4:8] in _ISOBMFF_BOXES:
        return f"{_MOOV_MISSING}: file incomplete (still being written, or truncated)", Reason.INCOMPLETE
    for start, what in _LISTS_OF_FILES:
        if header.lstrip().startswith(start):
            return f"{what}, not a video: refused (it would make ffmpeg open other files)", Reason.NOT_A_VIDEO
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    for prefix in (f"file:{path}: ", f"{path}: "):
        last = last.removeprefix(prefix)
    return f"not a video file ffprobe can read: {last}", Reason.NOT_A_VIDEO


# ---------------------------------------------------------------------------------------------
# Fields of the JSON


def _first_video_stream(streams: list[dict[str, Any]]) -> dict[str, Any] | None:
    for stream in streams:
        disposition = stream.get("disposition") or {}
        if stream.get("codec_type") == "video" and not disposition.get("attached_pic"):
            return stream
    return None


def _is_still_image(fmt: dict[str, Any]) -> bool:
    """ffmpeg's image demuxers: `image2`, and `png_pipe`, `jpeg_pipe`, … (all `*_pipe`)."""
    name = str(fmt.get("format_name") or "")
    return name == "image2" or name.endswith("_pipe")


def _ratio(text: object) -> float:
    """'num/den' (or a plain number) as a float; 0.0 for missing, '0/0', 'x/0' or junk."""
    try:
        value = Fraction(str(text)) if text is not None else Fraction(0)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value)


def _frame_rate(video: dict[str, Any]) -> float:
    return _ratio(video.get("avg_frame_rate")) or _ratio(video.get("r_frame_rate"))


def _finite_float(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _positive_float(text: object) -> float | None:
    value = _finite_float(text)
    return value if value is not None and value > 0 else None


def _frame_count(duration_s: float, fps: float) -> int:
    """int(duration·fps), immune to float noise such as 10.01 · 30000/1001 = 299.99999…"""
    return int(duration_s * fps + 1e-6)


def _rotation(video: dict[str, Any]) -> int:
    """Display rotation in degrees counterclockwise, normalised to 0, 90, 180 or 270."""
    degrees: float | None = None
    for side in video.get("side_data_list") or []:
        if side.get("side_data_type") == "Display Matrix" and "rotation" in side:
            degrees = _finite_float(side["rotation"])
            break
    if degrees is None:
        clockwise = _finite_float((video.get("tags") or {}).get("rotate"))
        degrees = -clockwise if clockwise is not None else None
    if degrees is None:
        return 0
    return round(degrees / 90.0) * 90 % 360


def _bit_rate_k(fmt: dict[str, Any], video: dict[str, Any]) -> int | None:
    for source in (fmt, video):
        try:
            return int(source["bit_rate"]) // 1000
        except (KeyError, TypeError, ValueError):
            continue
    return None
