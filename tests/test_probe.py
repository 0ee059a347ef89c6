"""probe(): real ffprobe on generated media, and metadata_from_ffprobe on hand-written JSON."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import media
import pytest

from streamclip.errors import FFmpegError, SourceError
from streamclip.ffmpeg import children
from streamclip.ffmpeg.probe import metadata_from_ffprobe, probe, probe_sync

# ---------------------------------------------------------------------------------------------
# Good videos


async def test_cut_video(cut_video: media.CutVideo) -> None:
    meta = await probe(cut_video.path)
    assert meta.path == str(cut_video.path.resolve())
    assert meta.size == cut_video.path.stat().st_size
    assert (meta.width, meta.height, meta.rotation) == (160, 90, 0)
    assert meta.fps == 25.0
    assert meta.num_frames == cut_video.num_frames == 425
    assert meta.duration_s == pytest.approx(17.0)
    assert (meta.video_codec, meta.pixel_format, meta.audio_codec) == ("h264", "yuv420p", None)
    assert meta.bit_rate_k is not None
    assert meta.bit_rate_k > 0
    assert not meta.is_10_bit


async def test_ntsc_rate_with_audio(cut_video_with_audio: media.CutVideo) -> None:
    meta = await probe(cut_video_with_audio.path)
    assert meta.fps == pytest.approx(30000 / 1001)
    assert meta.num_frames == cut_video_with_audio.num_frames == 240
    assert meta.audio_codec == "aac"


def test_probe_sync(cut_video: media.CutVideo) -> None:
    assert probe_sync(cut_video.path).num_frames == cut_video.num_frames


async def test_10_bit(video_10bit: media.CutVideo) -> None:
    meta = await probe(video_10bit.path)
    assert meta.pixel_format == "yuv420p10le"
    assert meta.is_10_bit
    assert meta.num_frames == video_10bit.num_frames


async def test_vfr_uses_average_frame_rate(vfr_video: Path) -> None:
    meta = await probe(vfr_video)
    # ffprobe 5.1: r_frame_rate 60/1, avg_frame_rate 1350/47 for 270 coded frames.
    assert meta.fps == pytest.approx(1350 / 47)
    assert meta.num_frames == media.VFR_CODED_FRAMES


async def test_rotated_reports_displayed_size(rotated_video: Path) -> None:
    meta = await probe(rotated_video)
    assert meta.rotation == 90
    assert (meta.width, meta.height) == (90, 160)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
async def test_cover_art_is_not_the_video(media_dir: Path, suffix: str) -> None:
    path = media.make_with_cover_art(media_dir / f"cover_{suffix[1:]}{suffix}")
    meta = await probe(path)
    assert (meta.video_codec, meta.width, meta.height, meta.fps) == ("h264", 160, 90, 25.0)
    assert meta.num_frames == 50


async def test_truncated_faststart_still_probes(truncated_faststart: Path) -> None:
    # The index is intact, so ffprobe reports the full length; the decoder must notice the damage.
    meta = await probe(truncated_faststart)
    assert meta.num_frames == 425


@pytest.mark.parametrize(
    "name", ["with space.mp4", "ünïcødé 视频.mp4", 'quote\'s "dq".mp4', "-leading-dash.mp4", "a:b.mp4"]
)
async def test_awkward_names(
    cut_video: media.CutVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    shutil.copyfile(cut_video.path, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    meta = await probe(name)  # relative on purpose: '-x' and 'a:b' must not reach ffprobe bare
    assert meta.path == str(tmp_path / name)
    assert meta.num_frames == cut_video.num_frames


async def test_ffprobe_timeout_propagates(cut_video: media.CutVideo) -> None:
    with pytest.raises(FFmpegError) as caught:
        await probe(cut_video.path, timeout_s=1e-4)
    assert caught.value.timed_out
    assert any(str(cut_video.path) in note for note in caught.value.__notes__)
    assert children.live_children() == 0


# ---------------------------------------------------------------------------------------------
# Bad input: each gets a reason a person can act on


async def expect_reason(path: str | os.PathLike[str], reason: str) -> None:
    with pytest.raises(SourceError) as caught:
        await probe(path)
    assert caught.value.reason.startswith(reason), caught.value.reason
    assert caught.value.path == str(path)  # fixtures give absolute paths


async def test_audio_only(audio_only: Path) -> None:
    await expect_reason(audio_only, "no video stream (audio-only or data file)")


async def test_truncated_moov_at_end(truncated_moov_at_end: Path) -> None:
    await expect_reason(truncated_moov_at_end, "moov atom not found: file incomplete")


async def test_empty(empty_file: Path) -> None:
    await expect_reason(empty_file, "empty file (0 bytes)")


async def test_text_named_mp4_is_not_called_incomplete(text_file: Path) -> None:
    await expect_reason(text_file, "not a video file ffprobe can read: Invalid data found")


async def test_zero_fps(zero_fps_video: Path) -> None:
    await expect_reason(zero_fps_video, "frame rate 0 is zero or absurd")


async def test_absurd_fps(media_dir: Path) -> None:
    await expect_reason(media.make_absurd_fps(media_dir / "absurd.mp4"), "frame rate 12800 is zero")


async def test_unknown_duration(media_dir: Path) -> None:
    await expect_reason(media.make_raw_h264(media_dir / "raw.h264"), "unknown or zero duration")


async def test_still_image(media_dir: Path) -> None:
    png = media_dir / "still.png"
    media.ffmpeg("-f", "lavfi", "-i", "color=c=green:s=32x32", "-frames:v", "1", png)
    await expect_reason(png, "a still image (png_pipe), not a video")


async def test_missing(tmp_path: Path) -> None:
    await expect_reason(tmp_path / "nope.mp4", "file not found")
    await expect_reason(tmp_path / "nope.mp4" / "deeper.mp4", "file not found")


async def test_directory(tmp_path: Path) -> None:
    await expect_reason(tmp_path, "is a directory, not a video file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable(cut_video: media.CutVideo, tmp_path: Path) -> None:
    locked = tmp_path / "locked.mp4"
    shutil.copyfile(cut_video.path, locked)
    locked.chmod(0)
    await expect_reason(locked, "permission denied: cannot read the file")


# ---------------------------------------------------------------------------------------------
# metadata_from_ffprobe on hand-written JSON


def video_stream(**fields: Any) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "codec_type": "video",
        "codec_name": "h264",
        "width": 1920,
        "height": 1080,
        "pix_fmt": "yuv420p",
        "avg_frame_rate": "30/1",
        "r_frame_rate": "30/1",
        "duration": "10.000000",
        "disposition": {"attached_pic": 0},
    }
    return stream | fields


def from_streams(*streams: dict[str, Any], **fmt: Any) -> Any:
    return metadata_from_ffprobe("/v.mp4", 1234, {"streams": list(streams), "format": fmt})


def test_avg_zero_falls_back_to_r_frame_rate() -> None:
    meta = from_streams(video_stream(avg_frame_rate="0/0", r_frame_rate="24000/1001"))
    assert meta.fps == pytest.approx(23.976, abs=1e-3)
    assert meta.num_frames == 239  # int(10 · 23.976…)


def test_missing_avg_falls_back_to_r_frame_rate() -> None:
    stream = video_stream(r_frame_rate="50/1")
    del stream["avg_frame_rate"]
    assert from_streams(stream).fps == 50.0


def test_cover_art_first_is_skipped() -> None:
    cover = video_stream(codec_name="mjpeg", width=600, height=600, disposition={"attached_pic": 1})
    meta = from_streams(cover, video_stream(), {"codec_type": "audio", "codec_name": "opus"})
    assert (meta.video_codec, meta.width, meta.audio_codec) == ("h264", 1920, "opus")


def test_first_real_video_stream_wins() -> None:
    assert from_streams(video_stream(), video_stream(codec_name="hevc")).video_codec == "h264"


@pytest.mark.parametrize(("avg", "r"), [("0/0", "0/0"), ("0/0", "1/0"), ("5000/1", "5000/1")])
def test_zero_or_absurd_fps(avg: str, r: str) -> None:
    with pytest.raises(SourceError, match="is zero or absurd"):
        from_streams(video_stream(avg_frame_rate=avg, r_frame_rate=r))


def test_duration_falls_back_to_format() -> None:
    stream = video_stream()
    del stream["duration"]
    meta = from_streams(stream, duration="4.000000", bit_rate="2500000")
    assert (meta.duration_s, meta.num_frames, meta.bit_rate_k) == (4.0, 120, 2500)


@pytest.mark.parametrize("duration", [None, "0.000000", "nan"])
def test_unknown_or_zero_duration(duration: str | None) -> None:
    stream = video_stream()
    del stream["duration"]
    fmt = {} if duration is None else {"duration": duration}
    with pytest.raises(SourceError, match="unknown or zero duration"):
        from_streams(stream, **fmt)


def test_no_video_stream() -> None:
    with pytest.raises(SourceError, match="no video stream"):
        from_streams({"codec_type": "audio", "codec_name": "aac"})


def test_frame_count_is_immune_to_float_noise() -> None:
    meta = from_streams(video_stream(avg_frame_rate="30000/1001", duration="10.010000"))
    assert meta.num_frames == 300


@pytest.mark.parametrize(
    ("side_rotation", "tag", "expected"),
    [
        (-90, None, 270),
        (90, None, 90),
        (180, None, 180),
        (-180, None, 180),
        (None, "90", 270),
        (None, None, 0),
    ],
)
def test_rotation(side_rotation: int | None, tag: str | None, expected: int) -> None:
    fields: dict[str, Any] = {}
    if side_rotation is not None:
        fields["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": side_rotation}]
    if tag is not None:
        fields["tags"] = {"rotate": tag}
    meta = from_streams(video_stream(**fields))
    assert meta.rotation == expected
    swapped = expected in (90, 270)
    assert (meta.width, meta.height) == ((1080, 1920) if swapped else (1920, 1080))


def test_bit_rate_falls_back_to_stream_then_none() -> None:
    assert from_streams(video_stream(bit_rate="800000")).bit_rate_k == 800
    assert from_streams(video_stream()).bit_rate_k is None
