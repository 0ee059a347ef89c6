"""ffmpeg argv builders: checked as argv without running anything, plus a few real runs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import media
import msgspec
import psutil
import pytest

from streamclip.contract.types import VideoMetadata
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import decode_argv, file_url, frames_argv, transcode_argv

FRAME_BYTES = 48 * 27 * 3


def meta(**changes: Any) -> VideoMetadata:
    base = VideoMetadata(
        path="/videos/in.mp4", size=1000, width=1280, height=720, fps=25.0, num_frames=250,
        duration_s=10.0, video_codec="h264", pixel_format="yuv420p", audio_codec=None, bit_rate_k=2500,
    )  # fmt: skip
    return msgspec.structs.replace(base, **changes)


def value_after(argv: list[str], option: str) -> str:
    assert option in argv, f"{option} missing from {argv}"
    return argv[argv.index(option) + 1]


def values_after(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


# ---------------------------------------------------------------------------------------------
# decode_argv


def test_decode_argv() -> None:
    argv = decode_argv(meta(fps=30000 / 1001))
    assert argv[0] == children.ffmpeg_binary()
    assert "-nostdin" in argv
    assert value_after(argv, "-i") == "file:/videos/in.mp4"
    assert value_after(argv, "-map") == "0:v:0"
    assert value_after(argv, "-fps_mode") == "cfr"
    assert float(value_after(argv, "-r")) == 30000 / 1001  # the exact rate, not a rounded one
    assert value_after(argv, "-s") == "48x27"  # width x height, as the reference TransNetV2
    assert value_after(argv, "-pix_fmt") == "rgb24"
    assert value_after(argv, "-f") == "rawvideo"
    assert argv[-1] == "pipe:1"
    assert argv.index("-i") < argv.index("-fps_mode")  # output options, after the input


@pytest.mark.parametrize("name", ["-x.mp4", "a:b.mp4", "http:x.mp4", "sub dir/c d.mp4"])
def test_paths_are_absolute_file_urls(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = file_url(name)
    assert url == "file:" + str(tmp_path / name)
    assert value_after(decode_argv(meta(path=name)), "-i") == url
    assert value_after(transcode_argv(meta(path=name), 0, 1, "out.mp4"), "-i") == url
    assert value_after(frames_argv(name, 2.0), "-i") == url


@pytest.mark.parametrize("name", ["-x.mp4", "a:b.mp4"])
async def test_odd_names_decode_for_real(name: str, media_dir: Path) -> None:
    """A leading '-' is not an option and 'a:' is not a protocol: ffmpeg reads the file."""
    source = media_dir / "odd_names" / name
    source.parent.mkdir(exist_ok=True)
    media.make_cut_video(source, scenes=[("testsrc2", 0.4)])
    done = await children.run(decode_argv(meta(path=str(source))), timeout_s=60)
    assert len(done.stdout) == 10 * FRAME_BYTES


async def test_stream_left_early_with_unread_frames_is_reaped(cut_video: media.CutVideo) -> None:
    """A decoder that stops reading (backpressure) and leaves: the child is killed and reaped.

    On Python 3.11 `Process.wait()` also waits for the pipes to close, so the unread (paused)
    stdout used to make this hang for ever.
    """
    argv = decode_argv(meta(path=str(cut_video.path), fps=25.0))
    async with asyncio.timeout(20):
        async with children.stream(argv, idle_timeout_s=30) as child:
            assert len(await child.read_exactly(FRAME_BYTES)) == FRAME_BYTES
            await asyncio.sleep(0.5)  # ffmpeg fills the reader's buffer: reading pauses
    assert children.live_children() == 0
    assert child.proc.returncode is not None


_RUN_FOREVER = """
import asyncio, sys
from streamclip.ffmpeg import children
argv = [children.ffmpeg_binary(), "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=64x36", "-f", "null", "-"]
async def main():
    task = asyncio.create_task(children.run(argv, timeout_s=600))
    await asyncio.sleep(1.0)
    print("running", flush=True)
    await task
asyncio.run(main())
"""


def test_ffmpeg_children_die_with_a_process_killed_outright() -> None:
    """kill -9 leaves no time to reap: the children must die with their parent, not run on."""
    with subprocess.Popen([sys.executable, "-c", _RUN_FOREVER], stdout=subprocess.PIPE, text=True) as parent:
        assert parent.stdout is not None
        assert parent.stdout.readline() == "running\n"
        children = psutil.Process(parent.pid).children(recursive=True)
        assert [c.name() for c in children] == ["ffmpeg"]
        parent.send_signal(signal.SIGKILL)
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()
    assert alive == [], "ffmpeg outlived the process that started it"


# ---------------------------------------------------------------------------------------------
# transcode_argv


def test_transcode_argv_defaults() -> None:
    argv = transcode_argv(meta(), 1.5, 4.25, "/work/out.mp4")
    i = argv.index("-i")
    assert argv.index("-ss") < i
    assert argv.index("-to") < i  # input-side seek: accurate and fast
    assert value_after(argv, "-ss") == "1.500000"
    assert value_after(argv, "-to") == "4.250000"
    assert values_after(argv, "-map") == ["0:v:0", "0:a:0?"]  # first video, first audio if any
    assert value_after(argv, "-c:v") == "libx264"
    assert value_after(argv, "-movflags") == "+faststart"
    assert value_after(argv, "-f") == "mp4"
    assert argv[-1] == "/work/out.mp4"
    for absent in ("-b:v", "-hwaccel", "-preset", "-vf", "-pix_fmt"):
        assert absent not in argv
    assert values_after(argv, "-threads") == ["1", "1"]


def test_ten_bit_source_is_encoded_as_8_bit() -> None:
    argv = transcode_argv(meta(pixel_format="yuv420p10le"), 0, 2, "o.mp4")
    assert value_after(argv, "-pix_fmt") == "yuv420p"
    assert argv.index("-pix_fmt") > argv.index("-i")


def test_odd_size_is_scaled_to_even() -> None:
    argv = transcode_argv(meta(width=161, height=91), 0, 2, "o.mp4")
    assert value_after(argv, "-vf") == "scale=trunc(iw/2)*2:trunc(ih/2)*2"
    assert "-vf" in transcode_argv(meta(width=160, height=91), 0, 2, "o.mp4")
    assert "-vf" not in transcode_argv(meta(width=160, height=90), 0, 2, "o.mp4")


@pytest.mark.parametrize(
    ("audio", "expected"),
    [("aac", "copy"), ("mp3", "copy"), ("pcm_s16le", "aac"), ("vorbis", "aac"), (None, "aac")],
)
def test_audio_copied_when_mp4_takes_it(audio: str | None, expected: str) -> None:
    assert value_after(transcode_argv(meta(audio_codec=audio), 0, 2, "o.mp4"), "-c:a") == expected


def test_input_bit_rate_only_when_asked() -> None:
    assert "-b:v" not in transcode_argv(meta(bit_rate_k=2500), 0, 2, "o.mp4")
    argv = transcode_argv(meta(bit_rate_k=2500), 0, 2, "o.mp4", use_input_bit_rate=True)
    assert value_after(argv, "-b:v") == "2500k"
    unknown = transcode_argv(meta(bit_rate_k=None), 0, 2, "o.mp4", use_input_bit_rate=True)
    assert "-b:v" not in unknown


def test_hwaccel_only_when_asked() -> None:
    assert "-hwaccel" not in transcode_argv(meta(), 0, 2, "o.mp4", encoder="h264_nvenc")
    argv = transcode_argv(meta(), 0, 2, "o.mp4", encoder="h264_nvenc", use_hwaccel=True)
    assert value_after(argv, "-hwaccel") == "cuda"
    assert argv.index("-hwaccel") < argv.index("-i")  # an input option


def test_encoder_specific_args_threads_and_preset() -> None:
    argv = transcode_argv(meta(), 0, 2, "o.mp4", encoder="libvpx-vp9", threads=3, input_threads=2, preset="fast")
    assert value_after(argv, "-c:v") == "libvpx-vp9"
    assert value_after(argv, "-row-mt") == "1"
    assert value_after(argv, "-preset") == "fast"
    assert values_after(argv, "-threads") == ["2", "3"]  # decoder (input side) and encoder
    nvenc = transcode_argv(meta(), 0, 2, "o.mp4", encoder="h264_nvenc")
    assert value_after(nvenc, "-rc") == "vbr"
    assert "-row-mt" not in transcode_argv(meta(), 0, 2, "o.mp4")


# ---------------------------------------------------------------------------------------------
# frames_argv


def test_frames_argv_native_size() -> None:
    argv = frames_argv("/clips/c.mp4", 2.0)
    assert value_after(argv, "-i") == "file:/clips/c.mp4"
    assert value_after(argv, "-vf") == "fps=2.0"  # every frame, constant rate inside the graph
    assert value_after(argv, "-fps_mode") == "passthrough"
    assert value_after(argv, "-pix_fmt") == "rgb24"
    assert "-s" not in argv
    assert argv[-1] == "pipe:1"


def test_frames_argv_target_res_is_height_width() -> None:
    argv = frames_argv("/clips/c.mp4", 0.5, size=(224, 320))
    assert value_after(argv, "-s") == "320x224"
    assert value_after(argv, "-vf") == "fps=0.5"


def test_frames_argv_selects_the_samples_and_the_tail_and_sets_threads() -> None:
    argv = frames_argv("/clips/c.mp4", 25.0, select=[12, 0, 90, 12], from_index=50, threads=3)
    assert value_after(argv, "-vf") == "fps=25.0,select=(eq(n\\,0))+((eq(n\\,12))+(gte(n\\,50)))"
    assert value_after(argv, "-threads") == "3"
    assert value_after(argv, "-filter_threads") == "3"


def test_frames_argv_select_nests_shallowly() -> None:
    """ffmpeg's expression parser fails past about 100 levels: a flat sum of 135 terms did."""
    graph = value_after(frames_argv("/c.mp4", 25.0, select=range(0, 4000, 2), from_index=4000), "-vf")
    depth = deepest = 0
    for char in graph:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    assert deepest < 30


# ---------------------------------------------------------------------------------------------
# A real transcode


def ffprobe_json(path: Path) -> dict[str, Any]:
    ffprobe = os.environ.get("STREAMCLIP_FFPROBE") or shutil.which("ffprobe") or "ffprobe"
    done = subprocess.run(
        [ffprobe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    info: dict[str, Any] = json.loads(done.stdout)
    return info


async def test_real_transcode_of_odd_size_10_bit_source(media_dir: Path, tmp_path: Path) -> None:
    # libx264 takes odd sizes only without chroma subsampling: 4:4:4, 10 bit.
    source = media.make_cut_video(
        media_dir / "odd_10bit.mp4",
        scenes=[("testsrc2", 1.5), ("mandelbrot", 1.5)],
        size="161x91",
        pix_fmt="yuv444p10le",
    ).path
    from streamclip.ffmpeg.probe import probe

    source_meta = await probe(source)
    assert (source_meta.width, source_meta.height, source_meta.is_10_bit) == (161, 91, True)
    out = tmp_path / "clip.mp4"
    await children.run(transcode_argv(source_meta, 0.6, 2.6, str(out)), timeout_s=60)

    info = ffprobe_json(out)
    (video,) = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert video["codec_name"] == "h264"
    assert video["pix_fmt"] == "yuv420p"
    assert (video["width"], video["height"]) == (160, 90)
    assert float(video["duration"]) == pytest.approx(2.0, abs=1 / 25 + 1e-6)
    assert int(video["nb_frames"]) in (49, 50, 51)
    # +faststart: the index comes before the media data.
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_nvdec_backend_decodes_with_cuda_and_nvenc_gets_8_bit_input() -> None:
    assert "-hwaccel" not in decode_argv(meta())
    argv = decode_argv(meta(), hwaccel=True)
    assert value_after(argv, "-hwaccel") == "cuda"
    assert argv.index("-hwaccel") < argv.index("-i")
    ten_bit = transcode_argv(meta(pixel_format="yuv420p10le"), 0, 2, "o.mp4", encoder="h264_nvenc")
    assert value_after(ten_bit, "-pix_fmt") == "yuv420p"


async def test_a_child_is_reaped_however_often_its_reaper_is_cancelled() -> None:
    """A pipeline torn down while an actor reaps (a crash, then the close's own cancel) cancels the
    reaper twice: the child must be waited for all the same, not left to a closed event loop
    ("subprocess … is still running" in a later test)."""
    argv = [
        children.ffmpeg_binary(),
        "-v",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x36",
        "-f",
        "null",
        "-",
    ]
    async with children.stream(argv, idle_timeout_s=600) as child:
        reaper = asyncio.create_task(children._reap(child.proc))
        await asyncio.sleep(0)  # the reaper has killed the child and waits
        reaper.cancel()
        await asyncio.sleep(0)
        reaper.cancel()  # a second cancel, while it is still waiting
        with pytest.raises(asyncio.CancelledError):
            await reaper
        assert child.proc.returncode is not None, "the reaper gave up on a child it had killed"
    assert children.live_children() == 0
