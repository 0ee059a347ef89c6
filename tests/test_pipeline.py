"""The streaming pipeline end to end: real ffmpeg, real TransNetV2 weights, generated videos."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import media
import msgspec
import numpy as np
import pytest

import streamclip
from streamclip.actors import shot_detector
from streamclip.config import PipelineConfig, load_config
from streamclip.contract.rules import clip_uuid, fixed_stride_spans, sample_frame_indices, scene_spans
from streamclip.contract.stats import PipelineStats
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed
from streamclip.detector.engines import shared_engine
from streamclip.detector.network import cuda_available
from streamclip.ffmpeg import children

SHORT_SCENES = [("testsrc2", 3.0), ("mandelbrot", 3.0), ("smptebars", 3.0)]
LONG_SCENES = [*SHORT_SCENES, ("rgbtestsrc", 3.0), ("cellauto", 3.0), *SHORT_SCENES]


@pytest.fixture(scope="session")
def short_video(media_dir: Path) -> media.CutVideo:
    """225 frames at 25 fps, cuts at 75 and 150."""
    return media.make_cut_video(media_dir / "short.mp4", scenes=SHORT_SCENES, audio=True)


@pytest.fixture(scope="session")
def other_short_video(media_dir: Path) -> media.CutVideo:
    # 3.4 s scenes at 30 fps: 102 frames, a 72-frame clip after the crops (at least 60), the last one
    # too, which ends a frame before the video (Curator's rule)
    scenes = [("smptebars", 3.4), ("testsrc2", 3.4), ("rgbtestsrc", 3.4)]
    return media.make_cut_video(media_dir / "other short.mp4", scenes=scenes, fps=30)


@pytest.fixture(scope="session")
def long_video(media_dir: Path) -> media.CutVideo:
    """600 frames at 25 fps (24 s), eight scenes."""
    return media.make_cut_video(media_dir / "long.mp4", scenes=LONG_SCENES)


def config(*overrides: str, profile: str = "default") -> PipelineConfig:
    return load_config(profile, list(overrides))


async def collect(pipe: streamclip.Pipeline, *paths: Path) -> list[Event]:
    for path in paths:
        await pipe.submit(path)
    pipe.close_input()
    return [event async for event in pipe]


def clips_of(events: list[Event]) -> list[streamclip.Clip]:
    return [e.clip for e in events if isinstance(e, ClipReady)]


def ffprobe_stream(path: str) -> dict[str, Any]:
    out = subprocess.run(
        [children.ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=codec_name,pix_fmt,nb_read_frames,width,height:format=duration",
         "-of", "json", path],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    info = json.loads(out)
    return {**info["streams"][0], "duration": float(info["format"]["duration"])}


def leftovers(out: Path) -> list[Path]:
    """Anything in OUT that is not a finished file: work folders, temporary names."""
    return [p for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


async def test_streaming_spans_equal_the_rules_and_clips_play(short_video: media.CutVideo, tmp_path: Path) -> None:
    async with streamclip.open_pipeline(config(), tmp_path) as pipe:
        events = await collect(pipe, short_video.path)
    clips = sorted(clips_of(events), key=lambda c: c.index)
    assert isinstance(events[-1], VideoDone)
    assert events[-1].num_clips == len(clips) == 3

    fps = float(short_video.fps)
    frames, _ = await asyncio.to_thread(media.pipeline_frames, short_video.path)  # it runs a loop of its own
    probabilities = streamclip.shot_probabilities(frames, engine="openvino")  # the profile's engine, whole video
    expected = scene_spans(probabilities > 0.4, fps)
    assert [(c.span.start_frame, c.span.end_frame) for c in clips] == expected
    # the detector found the generated cuts (75, 150) and nothing else
    flagged = np.flatnonzero(probabilities > 0.4)
    assert all(min(abs(f - cut) for cut in short_video.cuts) <= 1 for f in flagged)
    assert all(min(abs(f - cut) for f in flagged) <= 1 for cut in short_video.cuts)

    source = str(short_video.path.resolve())
    for clip in clips:
        assert clip.source == source
        assert clip.uuid == clip_uuid(source, clip.span.start_frame, clip.span.end_frame)
        assert clip.path == str(tmp_path / "clips" / f"{clip.uuid}.mp4")
        stream = ffprobe_stream(clip.path)
        frames = clip.span.end_frame - clip.span.start_frame
        assert stream["codec_name"] == "h264"
        assert stream["pix_fmt"] == "yuv420p"
        assert abs(stream["duration"] - frames / fps) <= 1 / fps + 1e-6
        assert abs(int(stream["nb_read_frames"]) - frames) <= 1
        meta = json.loads((tmp_path / "metas" / "v0" / f"{clip.uuid}.json").read_text())
        assert meta["span_uuid"] == str(clip.uuid)
        assert meta["source_video"] == source
        assert meta["duration_span"] == [clip.span.start_s, clip.span.end_s]
        assert "errors" not in meta  # Curator writes the failed stages only when there are some
        sampled = clip.frames["sequence-2000"]
        assert sampled.shape == (len(sample_frame_indices(frames, fps, 2.0)), 90, 160, 3)
    record = json.loads((tmp_path / "processed_videos" / "short.mp4.json").read_text())
    assert record["num_total_clips"] == 3
    assert record["status"] == "done"
    assert leftovers(tmp_path) == []


async def test_first_clip_arrives_before_the_decoder_reaches_the_end(
    long_video: media.CutVideo, tmp_path: Path
) -> None:
    cfg = config("channels.frames=1", "channels.probabilities=2", "decode.chunk_frames=25")
    async with streamclip.open_pipeline(cfg, tmp_path) as pipe:
        await pipe.submit(long_video.path)
        pipe.close_input()
        async for event in pipe:
            assert isinstance(event, ClipReady)
            decoded = decoder_frames(pipe)
            break
    assert decoded < long_video.num_frames  # the decoder had not reached the end of the file


async def test_leaving_the_block_early_kills_ffmpeg_and_leaves_no_partial_file(
    long_video: media.CutVideo, tmp_path: Path
) -> None:
    async with streamclip.open_pipeline(config("transcode.workers=2"), tmp_path) as pipe:
        await pipe.submit(long_video.path)
        await pipe.submit(long_video.path)  # a second decoder and more encoders in flight
        pipe.close_input()
        async for event in pipe:
            if isinstance(event, ClipReady):
                break
    assert children.live_children() == 0
    assert _ffmpeg_children() == []
    assert leftovers(tmp_path) == []
    for clip_file in (tmp_path / "clips").glob("*.mp4"):
        assert (tmp_path / "metas" / "v0" / f"{clip_file.stem}.json").is_file()


def _ffmpeg_children() -> list[int]:
    """Processes whose parent is this test process and whose command is ffmpeg/ffprobe."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].split(")", 1)[0]
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and name.startswith("ff"):
            found.append(int(stat.parent.name))
    return found


async def test_a_consumer_that_stops_reading_stops_the_decoder(long_video: media.CutVideo, tmp_path: Path) -> None:
    capacities = [f"channels.{name}=1" for name in ("jobs", "frames", "probabilities", "spans", "clips", "events")]
    cfg = config(*capacities, "spans.max_length_s=1.0", "spans.min_length_s=0.5", "spans.crop_s=0",
                 "transcode.workers=1", "decode.chunk_frames=10", "detector.batch_windows=1")  # fmt: skip
    async with streamclip.open_pipeline(cfg, tmp_path) as pipe:
        await pipe.submit(long_video.path)
        pipe.close_input()
        await _until(lambda: pipe.statistics().channels["events"].depth == 1)  # nobody reads
        frozen = await _until_quiescent(pipe)
        decoded = decoder_frames(pipe)
        stats = pipe.statistics()
    assert frozen.decoder is not None
    assert frozen.decoder.frames_decoded == decoded
    assert 0 < decoded < long_video.num_frames - 100
    for channel in stats.channels.values():
        assert channel.max_depth <= channel.capacity
    assert stats.channels["frames"].depth == 1


def decoder_frames(pipe: streamclip.Pipeline) -> int:
    decoder = pipe.statistics().decoder
    assert decoder is not None
    return decoder.frames_decoded


def _actors(stats: PipelineStats) -> PipelineStats:
    return msgspec.structs.replace(stats, elapsed_s=0.0, channels={})


async def _until_quiescent(pipe: streamclip.Pipeline, quiet_s: float = 5.0) -> PipelineStats:
    """Wait until no actor's counters move for `quiet_s` (a stall, not a slow forward pass)."""
    deadline = time.monotonic() + 120.0
    last, since = _actors(pipe.statistics()), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "the pipeline never stopped moving"
        await asyncio.sleep(0.25)
        now = _actors(pipe.statistics())
        if now != last:
            last, since = now, time.monotonic()
    return last


async def _until(condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def decoders_held(fifo: Path, folder: Path) -> Path:
    """A stand-in ffmpeg whose 48x27 decodes each leave a `waiting-<pid>` file in `folder`, then
    wait, before starting, for a line on `fifo`."""
    os.mkfifo(fifo)
    script = folder / "held-ffmpeg"
    script.write_text(
        f'#!/bin/sh\ncase " $* " in\n  *" -s 48x27 "*) : > "{folder}/waiting-$$"; read -r _ < "{fifo}" ;;\nesac\n'
        f'exec "{children.ffmpeg_binary()}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def release(fifo: Path, count: int) -> None:
    """Let `count` held decoders go (they are waiting: each left its file first)."""
    gate = os.open(fifo, os.O_RDWR)  # never blocks, unlike a write-only open of a FIFO
    try:
        os.write(gate, b"go\n" * count)
    finally:
        os.close(gate)


async def test_videos_interleave_and_the_detector_batches_across_them(
    short_video: media.CutVideo, other_short_video: media.CutVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both decoders are held until both have started, then let go at once, and the detector does
    not start until both are waiting in line on the full one-item frames channel: from then on the
    channel serves them in turn, so neither video can run alone first because its decoder or the
    detector's model load was quicker (as happened on loaded machines), and a batch is run only when
    full (no time-out) or at a video's end."""
    gate = tmp_path / "gate.fifo"
    monkeypatch.setenv("STREAMCLIP_FFMPEG", str(decoders_held(gate, tmp_path)))
    detector_may_start = threading.Event()

    def held_engine(settings: Any) -> Any:
        detector_may_start.wait(timeout=120)
        return shared_engine(settings)

    monkeypatch.setattr(shot_detector, "shared_engine", held_engine)
    cfg = config("detector.batch_windows=4", "detector.max_wait_ms=600000", "decode.max_videos=2", "channels.frames=1")
    async with streamclip.open_pipeline(cfg, tmp_path / "out") as pipe:
        for path in (short_video.path, other_short_video.path):
            await pipe.submit(path)
        pipe.close_input()
        await _until(lambda: len(list(tmp_path.glob("waiting-*"))) == 2)
        release(gate, 2)
        frames = next(channel for channel in pipe.channels if channel.name == "frames")
        await _until(lambda: frames.statistics().senders_waiting == 2)  # both decoders wait in line, a chunk in hand
        detector_may_start.set()
        events = [event async for event in pipe]
        detector = pipe.statistics().detector
    assert detector is not None
    assert detector.max_videos_in_batch == 2
    # Which video's clips come out first is the scheduler's choice, not a guarantee: with a faster
    # detector the short video can finish before the long one's first encode ends. Interleaving is
    # proven above (one forward pass held windows of both); here both come out whole.
    assert {clip.source for clip in clips_of(events)} == {str(short_video.path), str(other_short_video.path)}
    done = [e for e in events if isinstance(e, VideoDone)]
    assert len(done) == 2
    assert all(e.num_clips > 0 for e in done)
    assert sum(e.num_clips for e in done) == len(clips_of(events))


async def test_limit_clips_stops_decoding(long_video: media.CutVideo, tmp_path: Path) -> None:
    async with streamclip.open_pipeline(config("spans.limit_clips=1", "channels.frames=1"), tmp_path) as pipe:
        events = await collect(pipe, long_video.path)
        decoded = decoder_frames(pipe)
    assert len(clips_of(events)) == 1
    assert isinstance(events[-1], VideoDone)
    assert decoded < long_video.num_frames


STRIDE = ("spans.mode='fixed_stride'", "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0",
          "spans.min_clip_length_s=1.0")  # fmt: skip


async def test_fixed_stride_spans_and_ids_follow_the_rules(short_video: media.CutVideo, tmp_path: Path) -> None:
    async with streamclip.open_pipeline(config(*STRIDE), tmp_path) as pipe:
        events = await collect(pipe, short_video.path)
        stats = pipe.statistics()
    assert stats.decoder is None
    assert stats.detector is None
    assert stats.spans is not None
    assert stats.spans.name == "stride_spanner"
    meta = await streamclip.probe(short_video.path)
    expected = fixed_stride_spans(meta.duration_s, meta.fps, clip_len_s=2.0, clip_stride_s=2.0, min_clip_length_s=1.0)
    clips = sorted(clips_of(events), key=lambda c: c.index)
    assert [(c.span.start_s, c.span.end_s) for c in clips] == expected
    for clip in clips:
        start, end = int(clip.span.start_s * meta.fps), int(clip.span.end_s * meta.fps)
        assert clip.uuid == clip_uuid(meta.path, start, end)
        assert clip.path is not None
        assert abs(ffprobe_stream(clip.path)["duration"] - clip.span.duration_s) <= 1 / meta.fps + 1e-6


async def test_finished_outputs_are_not_rewritten(short_video: media.CutVideo, tmp_path: Path) -> None:
    async with streamclip.open_pipeline(config(*STRIDE), tmp_path) as pipe:
        first = clips_of(await collect(pipe, short_video.path))
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "clips").iterdir()}
    mtimes |= {p: p.stat().st_mtime_ns for p in (tmp_path / "metas" / "v0").iterdir()}
    async with streamclip.open_pipeline(config(*STRIDE), tmp_path) as pipe:
        second = clips_of(await collect(pipe, short_video.path))
        transcoder = pipe.statistics().transcoder
    assert transcoder.reused == len(first)
    assert transcoder.encoded == 0
    assert {c.uuid for c in second} == {c.uuid for c in first}
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


async def test_without_an_output_folder_clips_come_as_bytes(short_video: media.CutVideo) -> None:
    events = await streamclip.split([short_video.path], config=config(*STRIDE))
    clips = clips_of(events)
    assert clips
    assert all(c.path is None and c.buffer is not None for c in clips)
    assert all(c.buffer is not None and c.buffer[4:8] == b"ftyp" for c in clips)


async def test_a_crashing_actor_surfaces_its_error_once(short_video: media.CutVideo, tmp_path: Path) -> None:
    class BrokenModel:
        def predict_windows(self, windows: np.ndarray) -> np.ndarray:
            raise RuntimeError("the model exploded")

    with pytest.raises(RuntimeError, match="the model exploded") as caught:
        async with streamclip.open_pipeline(config(), tmp_path, model=BrokenModel()) as pipe:  # type: ignore[arg-type]
            await collect(pipe, short_video.path)
    assert any("shot_detector" in note for note in caught.value.__notes__)
    assert children.live_children() == 0
    assert leftovers(tmp_path) == []


async def test_a_missing_file_fails_alone(short_video: media.CutVideo, tmp_path: Path) -> None:
    events = await streamclip.split([tmp_path / "nope.mp4", short_video.path], tmp_path / "out", config(*STRIDE))
    failed = [e for e in events if isinstance(e, VideoFailed)]
    assert [(Path(f.source).name, f.reason) for f in failed] == [("nope.mp4", "file not found")]
    assert any(isinstance(e, VideoDone) and e.num_clips > 0 for e in events)


async def test_nvidia_profile_falls_back_to_the_cpu_with_warnings(
    short_video: media.CutVideo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if cuda_available():
        pytest.skip("this machine has a GPU: the fallback is not taken")
    events = await streamclip.split([short_video.path], tmp_path, config(*STRIDE, profile="nvidia"))
    assert [e.num_clips for e in events if isinstance(e, VideoDone)] == [len(clips_of(events))]
    assert all(ffprobe_stream(c.path or "")["codec_name"] == "h264" for c in clips_of(events))
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "h264_nvenc" in warned
    assert "pynvc" in warned
    assert "cuda" in warned


@pytest.mark.gpu
async def test_nvidia_profile_on_a_gpu(short_video: media.CutVideo, tmp_path: Path) -> None:
    if not cuda_available():
        pytest.skip("needs an NVIDIA GPU")
    async with streamclip.open_pipeline(config(profile="nvidia"), tmp_path) as pipe:
        events = await collect(pipe, short_video.path)
    clips = clips_of(events)
    assert clips
    assert all(c.ok for c in clips)
    assert all(ffprobe_stream(c.path or "")["codec_name"] == "h264" for c in clips)


async def test_frames_for_every_policy_rate_and_size_are_written(short_video: media.CutVideo, tmp_path: Path) -> None:
    cfg = config(*STRIDE, "frames.policies=['sequence', 'middle']", "frames.target_fps=[1.0, 2.0]",
                 "frames.target_res=[36, 64]", "frames.write=true")  # fmt: skip
    async with streamclip.open_pipeline(cfg, tmp_path) as pipe:
        clips = clips_of(await collect(pipe, short_video.path))
    assert clips
    for clip in clips:
        assert clip.encoded is not None
        n, fps = clip.encoded.num_frames, clip.encoded.framerate
        assert set(clip.frames) == {"sequence-1000", "sequence-2000", "middle-1000", "middle-2000"}
        assert clip.frames["sequence-1000"].shape == (len(sample_frame_indices(n, fps, 1.0)), 36, 64, 3)
        assert clip.frames["sequence-2000"].shape == (len(sample_frame_indices(n, fps, 2.0)), 36, 64, 3)
        sequence = clip.frames["sequence-2000"]
        np.testing.assert_array_equal(clip.frames["middle-2000"], sequence[len(sequence) // 2 : len(sequence) // 2 + 1])
        with np.load(tmp_path / "frames" / f"{clip.uuid}.npz") as saved:
            assert set(saved.files) == set(clip.frames)
            np.testing.assert_array_equal(saved["sequence-1000"], clip.frames["sequence-1000"])
