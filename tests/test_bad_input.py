"""Bad input and failure handling on the split path: a clear outcome for every broken file.

A corpus of broken and awkward files is generated once (lavfi and byte edits, see `media`) and
split in ONE pipeline run through the async API and ONE `streamclip split` run, which also shows
that a failing video never stops the others. Fixed-stride spans are used where shot detection is
not what is tested; the damaged and variable-frame-rate files also go through scene detection.
Hung children come from a stand-in ffmpeg/ffprobe (`STREAMCLIP_FFMPEG`/`STREAMCLIP_FFPROBE`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import media
import numpy as np
import pytest

import streamclip
from streamclip import cli
from streamclip.actors import transcoder
from streamclip.config import PipelineConfig, load_config
from streamclip.contract.rules import clip_uuid
from streamclip.contract.types import ClipReady, Event, VideoDone, VideoFailed
from streamclip.errors import FFmpegError, Reason
from streamclip.ffmpeg import children

STRIDE = [
    "spans.mode='fixed_stride'",
    "spans.clip_len_s=2.0",
    "spans.clip_stride_s=2.0",
    "spans.min_clip_length_s=2.0",
]
THREE_SCENES = [("testsrc2", 3.0), ("mandelbrot", 3.0), ("smptebars", 3.0)]  # 225 frames, cuts 75, 150
AWKWARD_NAMES = ["with space.mp4", "ünïcødé 视频.mp4", 'quote\'s "dq".mp4', "-leading-dash.mp4"]

# What the unusable files fail with (the start of VideoFailed.reason).
FAILED = {
    "empty.mp4": "empty file (0 bytes)",
    "text.mp4": "not a video file ffprobe can read: Invalid data found",
    "missing.mp4": "file not found",
    "audio_only.mp4": "no video stream (audio-only or data file)",
    "moov_at_end.mp4": "moov atom not found: file incomplete",
    "zero_fps.mp4": "frame rate 0 is zero or absurd",
    "absurd_fps.mp4": "frame rate 12800 is zero or absurd",
}
# ... and the kind of each failure (set where it is raised; metrics and quarantine read it).
FAILED_KINDS = {
    "empty.mp4": Reason.EMPTY,
    "text.mp4": Reason.NOT_A_VIDEO,
    "missing.mp4": Reason.MISSING,
    "audio_only.mp4": Reason.NO_VIDEO_STREAM,
    "moov_at_end.mp4": Reason.INCOMPLETE,
    "zero_fps.mp4": Reason.UNUSABLE_STREAM,
    "absurd_fps.mp4": Reason.UNUSABLE_STREAM,
}
# Clips (2 s fixed stride) of the files that are done.
DONE = {
    "good.mp4": 4,  # 9 s: 0-2, 2-4, 4-6, 6-8
    "too_short.mp4": 0,  # 1 s
    "10bit.mp4": 1,  # 3 s
    "rotated.mp4": 1,  # 2 s
    "vfr.mp4": 4,  # 9.4 s
    "damaged.mp4": 1,  # the clip before the damage; three more failed
    **dict.fromkeys(AWKWARD_NAMES, 1),  # 2.5 s
}


def config(*overrides: str) -> PipelineConfig:
    return load_config("default", list(overrides))


@dataclass(frozen=True)
class Corpus:
    folder: Path  # every file of the corpus, nothing else
    missing: Path
    no_videos: Path  # a folder without a video in it
    damaged_frames: int  # frames of damaged.mp4 that decode (its header announces 225)

    def path(self, name: str) -> Path:
        return self.missing if name == "missing.mp4" else self.folder / name


@dataclass(frozen=True)
class Run:
    out: Path
    events: list[Event]

    def outcome(self, name: str) -> VideoDone | VideoFailed:
        (event,) = [e for e in self.events if not isinstance(e, ClipReady) and Path(e.source).name == name]
        return event

    def failed(self, name: str) -> VideoFailed:
        event = self.outcome(name)
        assert isinstance(event, VideoFailed), event
        return event

    def done(self, name: str) -> VideoDone:
        event = self.outcome(name)
        assert isinstance(event, VideoDone), event
        return event

    def position(self, event: Event) -> int:
        return next(i for i, e in enumerate(self.events) if e is event)

    def clips(self, name: str) -> list[streamclip.Clip]:
        found = [e.clip for e in self.events if isinstance(e, ClipReady) and Path(e.clip.source).name == name]
        return sorted(found, key=lambda c: c.index)

    def record(self, name: str) -> dict[str, Any]:
        return json.loads((self.out / "processed_videos" / f"{name}.json").read_text())

    def meta(self, clip_id: object) -> dict[str, Any]:
        return json.loads((self.out / "metas" / "v0" / f"{clip_id}.json").read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    src = tmp_path_factory.mktemp("bad_src")
    folder = tmp_path_factory.mktemp("bad_in")
    good = media.make_cut_video(folder / "good.mp4", scenes=THREE_SCENES)
    damaged_frames = media.make_damaged_after(folder / "damaged.mp4", good.path, min_frames=78, max_frames=92)
    media.make_truncated_moov_at_end(folder / "moov_at_end.mp4", good.path)
    media.make_empty(folder / "empty.mp4")
    media.make_text(folder / "text.mp4")
    media.make_audio_only(folder / "audio_only.mp4")
    media.make_zero_fps(folder / "zero_fps.mp4")
    media.make_absurd_fps(folder / "absurd_fps.mp4")
    media.make_cut_video(folder / "too_short.mp4", scenes=[("testsrc2", 1.0)])
    media.make_10bit_video(folder / "10bit.mp4", scenes=[("testsrc2", 1.5), ("mandelbrot", 1.5)])
    media.make_rotated_video(folder / "rotated.mp4")
    media.make_vfr_video(folder / "vfr.mp4")
    short = media.make_cut_video(src / "short.mp4", scenes=[("smptebars", 1.25), ("rgbtestsrc", 1.25)])
    for name in AWKWARD_NAMES:
        shutil.copyfile(short.path, folder / name)
    no_videos = src / "no_videos"
    no_videos.mkdir()
    (no_videos / "notes.txt").write_text("no video here\n")
    assert {p.name for p in folder.iterdir()} == (FAILED.keys() | DONE.keys()) - {"missing.mp4"}
    return Corpus(folder, src / "missing.mp4", no_videos, damaged_frames)


@pytest.fixture(scope="module")
def api_run(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The whole corpus, a missing path and a folder through one pipeline (fixed stride)."""
    out = tmp_path_factory.mktemp("api") / "out"
    paths = [*sorted(corpus.folder.iterdir()), corpus.missing, corpus.no_videos]
    events = asyncio.run(streamclip.split(paths, out, config(*STRIDE)))
    assert children.live_children() == 0
    return Run(out, events)


@pytest.fixture(scope="module")
def cli_run(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path, str, int]:
    """`streamclip split FOLDER missing.mp4 -given.mp4`: (run, cwd, stderr, exit status)."""
    cwd = tmp_path_factory.mktemp("cli")
    shutil.copyfile(corpus.folder / "good.mp4", cwd / "-given.mp4")  # a leading dash on the command line
    sets = [arg for override in [*STRIDE, "frames.enabled=false"] for arg in ("--set", override)]
    argv = [sys.executable, "-m", "streamclip", "split", "-o", "out", "--events", "jsonl", *sets]
    argv += ["--", str(corpus.folder), str(corpus.missing), "-given.mp4"]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=240, check=False)
    events = [_event_from_json(json.loads(line)) for line in done.stdout.splitlines()]
    return Run(cwd / "out", events), cwd, done.stderr, done.returncode


def _event_from_json(line: dict[str, Any]) -> Event:
    """A `--events jsonl` line as the API event it stands for (the fields the tests compare)."""
    if line["event"] == "video_failed":
        return VideoFailed(source=line["source"], reason=line["reason"], num_clips=line["num_clips"], elapsed_s=0)
    if line["event"] == "video_done":
        return VideoDone(
            source=line["source"], num_clips=line["num_clips"], num_failed_clips=line["num_failed_clips"],
            metadata=None, stats=streamclip.ClipStats(), timings_s={}, elapsed_s=0, note=line["note"],
        )  # fmt: skip
    span = streamclip.Span(
        start_frame=line["frames"][0], end_frame=line["frames"][1], start_s=line["span"][0], end_s=line["span"][1]
    )
    clip = streamclip.Clip(
        uuid=uuid.UUID(line["uuid"]), source=line["source"], index=line["index"], span=span, path=line["path"],
        errors=line["errors"],
    )  # fmt: skip
    return ClipReady(clip=clip, elapsed_s=0)


# ---------------------------------------------------------------------------------------------
# Checks shared by every run


def leftovers(out: Path) -> list[Path]:
    """Anything in OUT that is not a finished file: work folders, temporary names."""
    return [p for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def ffprobe_video(path: str | Path) -> dict[str, Any]:
    """Codec, pixel format, size, rotation and the frames that actually decode."""
    argv = [children.ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-count_frames", "-of", "json"]
    argv += ["-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames:stream_side_data", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(done.stdout)["streams"][0])


def assert_output_is_clean(out: Path, cwd: Path = Path("/")) -> None:
    """No temporary or half-written file; no clip without its meta; every clip a meta names plays.

    `cwd`: where the run was started (a relative OUT gives relative clip locations).
    """
    assert leftovers(out) == []
    metas = {p.stem: json.loads(p.read_text()) for p in (out / "metas" / "v0").glob("*.json")}
    clips = {p.stem for p in (out / "clips").glob("*")}
    assert clips <= metas.keys(), "a clip without its meta"
    for clip_id, meta in metas.items():
        location = cwd / meta["clip_location"]  # where the clip goes, failed or not (as in Curator)
        assert location.resolve() == (out / "clips" / f"{clip_id}.mp4").resolve()
        if "errors" in meta:
            assert meta["errors"] == list(meta["error_messages"]), f"{clip_id}: errors without their messages"
            assert clip_id not in clips
            continue
        stream = ffprobe_video(location)
        assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
        assert meta["num_frames"] > 0  # probed: duration x rate, so a frame off on variable-rate clips
        assert abs(int(stream["nb_read_frames"]) - meta["num_frames"]) <= 1


def assert_no_child_left() -> None:
    assert children.live_children() == 0
    assert _children() == [], "a child process of this test outlived its pipeline"


def _children() -> list[str]:
    """Names of this process's children (ffmpeg, ffprobe, or the `sleep` a fake one became)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text.split("(", 1)[1].rsplit(")", 1)
        if int(fields.split()[1]) == os.getpid() and fields.split()[0] != "Z":
            found.append(name)
    return found


# ---------------------------------------------------------------------------------------------
# The corpus through the async API


def test_every_input_gets_exactly_one_outcome(api_run: Run, corpus: Corpus) -> None:
    finals = [e for e in api_run.events if not isinstance(e, ClipReady)]
    names = sorted(Path(e.source).name for e in finals)
    assert names == sorted([*FAILED, *DONE, "no_videos"])
    assert {Path(e.source).name for e in finals if isinstance(e, VideoFailed)} == {*FAILED, "no_videos"}
    for event in finals:  # a video's clips all come before its outcome
        clips = [e for e in api_run.events if isinstance(e, ClipReady) and e.clip.source == event.source]
        assert all(api_run.position(clip) < api_run.position(event) for clip in clips)
    assert_output_is_clean(api_run.out)


@pytest.mark.parametrize("name", sorted(FAILED))
def test_an_unusable_file_fails_with_a_reason_a_person_can_act_on(api_run: Run, name: str) -> None:
    failed = api_run.failed(name)
    assert failed.reason.startswith(FAILED[name]), failed.reason
    assert failed.kind == FAILED_KINDS[name]
    assert "\n" not in failed.reason
    assert failed.num_clips == 0
    assert api_run.clips(name) == []
    record = api_run.record(name)
    assert record["status"] == "failed"
    assert record["errors"] == {"video": failed.reason}
    assert record["video"] == failed.source


def test_a_folder_is_not_a_video(api_run: Run, corpus: Corpus) -> None:
    failed = api_run.failed("no_videos")
    assert (failed.source, failed.reason) == (str(corpus.no_videos), "is a directory, not a video file")
    assert failed.kind == Reason.NOT_A_VIDEO


def test_a_video_shorter_than_the_minimum_clip_is_done_with_no_clip(api_run: Run) -> None:
    done = api_run.done("too_short.mp4")
    assert (done.num_clips, done.num_failed_clips) == (0, 0)
    assert done.note == "no clip: the video (1.00 s) is shorter than the minimum clip length (2 s)"
    record = api_run.record("too_short.mp4")
    assert (record["status"], record["num_total_clips"], record["errors"]) == ("done", 0, {})


def test_a_10_bit_source_gives_8_bit_clips_that_play(api_run: Run) -> None:
    done = api_run.done("10bit.mp4")
    assert done.metadata is not None
    assert done.metadata.pixel_format == "yuv420p10le"
    (clip,) = api_run.clips("10bit.mp4")
    assert clip.path is not None
    stream = ffprobe_video(clip.path)
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert int(stream["nb_read_frames"]) == 50


def test_a_rotated_source_gives_clips_of_the_displayed_size(api_run: Run) -> None:
    (clip,) = api_run.clips("rotated.mp4")
    assert clip.encoded is not None
    assert (clip.encoded.width, clip.encoded.height) == (90, 160)
    assert clip.path is not None
    stream = ffprobe_video(clip.path)
    assert (stream["width"], stream["height"]) == (90, 160)
    assert not stream.get("side_data_list"), "the clip is upright: no display matrix to rotate it again"


def test_variable_frame_rate_stride_clips_start_on_the_right_content(api_run: Run, corpus: Corpus) -> None:
    clips = api_run.clips("vfr.mp4")
    assert [(c.span.start_s, c.span.end_s) for c in clips] == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0)]
    source = corpus.path("vfr.mp4")
    second = first_frame(clips[1].path)  # starts at 2.0 s: the cut to the second scene
    assert mean_difference(second, frame_at(source, 2.0)) < 8
    assert mean_difference(second, frame_at(source, 1.9)) > 50  # the first scene's last frames


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_awkward_file_names_are_split(api_run: Run, corpus: Corpus, name: str) -> None:
    done = api_run.done(name)
    assert done.source == str(corpus.folder / name)
    (clip,) = api_run.clips(name)
    assert clip.uuid == clip_uuid(done.source, clip.span.start_frame, clip.span.end_frame)
    assert clip.path is not None
    assert int(ffprobe_video(clip.path)["nb_read_frames"]) == 50
    assert api_run.record(name)["video"] == done.source


def test_a_damaged_file_keeps_its_clips_before_the_damage(api_run: Run, corpus: Corpus) -> None:
    """Fixed stride trusts the header (9 s); the damage is at 3.2-3.7 s. The clip before it is
    made and plays; the clip across it and those after it fail with a reason, leaving no file."""
    damage_s = corpus.damaged_frames / 25
    assert 3.0 < damage_s < 3.8
    done = api_run.done("damaged.mp4")
    assert (done.num_clips, done.num_failed_clips) == (1, 3)
    good, *failed = api_run.clips("damaged.mp4")
    assert (good.index, good.errors, good.span.end_s) == (0, {}, 2.0)
    assert good.path is not None
    assert int(ffprobe_video(good.path)["nb_read_frames"]) == 50
    assert [c.index for c in failed] == [1, 2, 3]
    for clip in failed:
        assert clip.path is None
        assert "(file truncated or damaged)" in clip.errors["transcode"]
        meta = api_run.meta(clip.uuid)
        assert (meta["errors"], meta["error_messages"]) == (list(clip.errors), clip.errors)
        assert not (api_run.out / "clips" / f"{clip.uuid}.mp4").exists()
    assert failed[0].errors["transcode"].startswith("only 1.")  # across the damage: part of it
    assert failed[1].errors["transcode"].startswith("nothing encoded")  # after the damage
    assert "truncated or damaged" in done.errors["clips"]
    record = api_run.record("damaged.mp4")
    assert (record["status"], record["num_clips_failed"]) == ("done", 3)
    assert record["errors"]["clips"] == done.errors["clips"]


# ---------------------------------------------------------------------------------------------
# The same corpus through `streamclip split`


def test_cli_exits_1_and_its_summary_lists_each_failed_file(
    cli_run: tuple[Run, Path, str, int], api_run: Run, corpus: Corpus
) -> None:
    run, cwd, stderr, status = cli_run
    assert status == 1, stderr
    videos = len(FAILED) + len(DONE) + 1  # and -given.mp4
    clips = sum(DONE.values()) + 4
    summary = f"streamclip: {videos} video(s), {len(FAILED)} failed; {clips} clip(s) written, 3 clip(s) failed"
    assert summary in stderr
    failed_lines = sorted(line.strip() for line in stderr.splitlines() if line.strip().startswith("FAILED "))
    expected = sorted(
        f"FAILED {corpus.path(name)} [{FAILED_KINDS[name]}]: {api_run.failed(name).reason}" for name in FAILED
    )
    assert failed_lines == expected
    damaged = corpus.folder / "damaged.mp4"
    for clip in api_run.clips("damaged.mp4")[1:]:  # every failed clip is named, with its kind
        assert f"  clip {clip.index} of {damaged} failed [incomplete]: {clip.errors['transcode']}\n" in stderr
    too_short = corpus.folder / "too_short.mp4"
    assert f"  {too_short}: no clip: the video (1.00 s) is shorter than the minimum clip length" in stderr
    assert_output_is_clean(run.out, cwd)


def test_cli_outcomes_match_the_api(cli_run: tuple[Run, Path, str, int], api_run: Run) -> None:
    run = cli_run[0]
    for name in [*FAILED, *DONE]:
        cli_event, api_event = run.outcome(name), api_run.outcome(name)
        assert type(cli_event) is type(api_event), name
        if isinstance(cli_event, VideoFailed) and isinstance(api_event, VideoFailed):
            assert cli_event.reason == api_event.reason
        if isinstance(cli_event, VideoDone) and isinstance(api_event, VideoDone):
            assert (cli_event.num_clips, cli_event.num_failed_clips) == (
                api_event.num_clips,
                api_event.num_failed_clips,
            )
            assert cli_event.note == api_event.note
        assert run.record(name)["status"] == api_run.record(name)["status"]
        # same sources and spans, hence the same clip ids and errors
        assert [(c.uuid, c.errors) for c in run.clips(name)] == [(c.uuid, c.errors) for c in api_run.clips(name)]
    given = run.done("-given.mp4")
    assert given.num_clips == 4
    assert given.source == str(cli_run[1] / "-given.mp4")


def test_cli_on_a_folder_without_videos_exits_1(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["split", str(corpus.no_videos), "-o", str(tmp_path / "out")])
    assert status == 1
    assert f"streamclip: no video files found in {corpus.no_videos}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root reads a file whatever its mode (and this venv's python, under /root, cannot run as nobody)",
)
def test_an_unreadable_file_fails_with_permission_denied(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked.mp4"
    shutil.copyfile(corpus.folder / "good.mp4", locked)
    locked.chmod(0)
    events = asyncio.run(streamclip.split([locked, corpus.folder / "good.mp4"], tmp_path / "api", config(*STRIDE)))
    failed = [e for e in events if isinstance(e, VideoFailed)]
    assert [(f.source, f.reason) for f in failed] == [(str(locked), "permission denied: cannot read the file")]
    assert sum(isinstance(e, ClipReady) for e in events) == 4
    status = cli.main(["split", str(locked), "-o", str(tmp_path / "cli"), *[a for s in STRIDE for a in ("--set", s)]])
    assert status == 1
    assert f"FAILED {locked} [permission]: permission denied: cannot read the file" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Scene detection on the damaged and the variable-frame-rate file


@pytest.fixture(scope="module")
def scene_run(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("scenes") / "out"
    paths = [corpus.folder / "damaged.mp4", corpus.folder / "vfr.mp4"]
    events = asyncio.run(streamclip.split(paths, out, config()))
    assert_no_child_left()
    return Run(out, events)


def test_a_damaged_file_gives_the_clips_before_the_damage_then_fails(scene_run: Run, corpus: Corpus) -> None:
    """Cut at 75 (3 s), damage after ~80 frames: the first scene is a clip (frames 12-63 after
    the 0.5 s crop), the scene cut by the damage is not; then VideoFailed says why."""
    failed = scene_run.failed("damaged.mp4")
    decoded = int(failed.reason.split("decoded only ", 1)[1].split()[0])
    assert abs(decoded - corpus.damaged_frames) <= 5
    assert failed.reason.startswith(f"decoded only {decoded} of 225 frames: file truncated or damaged")
    assert "@ 0x" not in failed.reason  # no ffmpeg log prefix in a reason meant for people
    (clip,) = scene_run.clips("damaged.mp4")
    assert failed.num_clips == 1
    assert abs(clip.span.start_frame - 12) <= 1
    assert abs(clip.span.end_frame - 63) <= 1
    ready = next(e for e in scene_run.events if isinstance(e, ClipReady) and e.clip is clip)
    assert scene_run.position(ready) < scene_run.position(failed)
    assert clip.errors == {}
    assert clip.path is not None
    assert int(ffprobe_video(clip.path)["nb_read_frames"]) == clip.span.end_frame - clip.span.start_frame
    record = scene_run.record("damaged.mp4")
    assert (record["status"], record["errors"]["video"]) == ("failed", failed.reason)
    assert record["num_clips_written"] == 1
    assert_output_is_clean(scene_run.out)


def test_variable_frame_rate_cut_and_span_times_land_on_the_right_content(scene_run: Run, corpus: Corpus) -> None:
    """Cut at 2.0 s; at the average rate (1350/47 fps) that is frame ≈ 57.4. The first scene is
    too short for a clip; the second scene's clip starts after the cut plus the 0.5 s crop."""
    done = scene_run.done("vfr.mp4")
    assert done.metadata is not None
    assert done.metadata.fps == pytest.approx(float(Fraction(1350, 47)))
    (clip,) = scene_run.clips("vfr.mp4")
    crop = int(0.5 * done.metadata.fps)
    cut = clip.span.start_frame - 1 - crop  # the transition frame
    assert abs(cut - media.VFR_CUT_S * done.metadata.fps) <= 2
    assert clip.span.start_s >= media.VFR_CUT_S
    source = corpus.path("vfr.mp4")
    start = first_frame(clip.path)
    at_start = mean_difference(start, frame_at(source, clip.span.start_s))
    assert at_start < 8
    assert at_start < mean_difference(start, frame_at(source, clip.span.start_s - 0.25))
    assert at_start < mean_difference(start, frame_at(source, clip.span.start_s + 0.25))


def frame_at(path: str | Path, t: float) -> np.ndarray:
    """The source's frame shown at time `t` (accurate seek), as RGB."""
    return _one_frame(["-ss", f"{t:.6f}", "-i", f"file:{path}"])


def first_frame(path: str | Path | None) -> np.ndarray:
    assert path is not None
    return _one_frame(["-i", f"file:{path}"])


def _one_frame(input_args: list[str]) -> np.ndarray:
    argv = [children.ffmpeg_binary(), "-v", "error", *input_args, "-frames:v", "1"]
    argv += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x90", "pipe:1"]
    out = subprocess.run(argv, capture_output=True, timeout=60, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(90, 160, 3)


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ---------------------------------------------------------------------------------------------
# Hung children are killed and reported

HANG_S = 4242  # how long a fake child sleeps: far beyond every limit below


def fake_binary(folder: Path, real: str, hang_when: str) -> Path:
    """A stand-in for ffmpeg/ffprobe that hangs (becomes `sleep`) when its argv matches the shell
    pattern `hang_when`, and runs the real binary otherwise."""
    script = folder / f"hanging-{Path(real).name}"
    script.write_text(
        f'#!/bin/sh\ncase " $* " in\n  {hang_when}) exec sleep {HANG_S} ;;\nesac\nexec {shlex.quote(real)} "$@"\n'
    )
    script.chmod(0o755)
    return script


def test_a_hung_encoder_and_a_hung_probe_are_killed_and_reported(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Limits: probes 2 s; a 2 s clip 1 s + 0.5 s per second of media. The encoder of the clip at
    2 s hangs, and so does the probe of hang.mp4: each is killed, reported, and the rest goes on."""
    hang = tmp_path / "hang.mp4"
    shutil.copyfile(corpus.folder / "good.mp4", hang)
    fake_ffmpeg = fake_binary(tmp_path, children.ffmpeg_binary(), '*" -ss 2.000000 "*" -movflags "*')
    monkeypatch.setenv("STREAMCLIP_FFMPEG", str(fake_ffmpeg))
    monkeypatch.setenv("STREAMCLIP_FFPROBE", str(fake_binary(tmp_path, children.ffprobe_binary(), "*hang.mp4*")))
    limits = ["limits.probe_timeout_s=2.0", "limits.floor_s=1.0", "limits.per_media_s=0.5"]
    out = tmp_path / "out"
    events = asyncio.run(streamclip.split([corpus.folder / "good.mp4", hang], out, config(*STRIDE, *limits)))
    assert_no_child_left()
    run = Run(out, events)

    probe_failed = run.failed("hang.mp4")
    assert probe_failed.reason.startswith("ffprobe failed: ")
    assert "timed out and was killed: no result after 2 s" in probe_failed.reason
    assert run.record("hang.mp4")["status"] == "failed"

    done = run.done("good.mp4")
    assert (done.num_clips, done.num_failed_clips) == (3, 1)
    hung = next(c for c in run.clips("good.mp4") if c.span.start_s == 2.0)
    assert hung.errors["transcode"] == f"{fake_ffmpeg} timed out and was killed: no result after 2 s"
    assert hung.path is None
    assert run.meta(hung.uuid)["error_messages"] == hung.errors
    assert_output_is_clean(out)


def test_a_hung_decoder_is_killed_and_reported(
    corpus: Corpus, scene_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(After `scene_run`: the detector's weights are loaded once per process.)"""
    fake = fake_binary(tmp_path, children.ffmpeg_binary(), '*" -s 48x27 "*')
    monkeypatch.setenv("STREAMCLIP_FFMPEG", str(fake))
    out = tmp_path / "out"
    events = asyncio.run(streamclip.split([corpus.folder / "good.mp4"], out, config("limits.decode_idle_s=1.0")))
    assert_no_child_left()
    (failed,) = events
    assert isinstance(failed, VideoFailed)
    assert failed.reason == f"decoding stalled after 0 frames: {fake} timed out and was killed: no output for 1 s"
    assert failed.error_type == "FFmpegError"
    assert failed.kind == Reason.TIMEOUT  # not a decode error: the decoder hung
    assert Run(out, events).record("good.mp4")["status"] == "failed"
    assert leftovers(out) == []


# ---------------------------------------------------------------------------------------------
# An encoder that fails on one clip


@pytest.fixture
def encoder_fails_at_2s(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clip starting at 2 s is encoded with an impossible H.264 level."""
    real = transcoder.transcode_argv

    def argv(meta: streamclip.VideoMetadata, start_s: float, end_s: float, output: str, **kw: Any) -> list[str]:
        built = real(meta, start_s, end_s, output, **kw)
        return [*built[:-1], "-level", "99", built[-1]] if start_s == 2.0 else built

    monkeypatch.setattr(transcoder, "transcode_argv", argv)


@pytest.mark.usefixtures("encoder_fails_at_2s")
def test_an_encoder_failing_on_one_clip_records_it_and_goes_on(corpus: Corpus, tmp_path: Path) -> None:
    events = asyncio.run(streamclip.split([corpus.folder / "good.mp4"], tmp_path, config(*STRIDE)))
    run = Run(tmp_path, events)
    clips = run.clips("good.mp4")
    assert [c.index for c in clips] == [0, 1, 2, 3]
    failed = clips[1]
    assert failed.errors == {"transcode": f"{children.ffmpeg_binary()} exited with status 1: invalid level_idc: 99"}
    assert failed.path is None
    assert failed.encoded is None
    meta = run.meta(failed.uuid)
    assert (meta["errors"], meta["error_messages"], meta["valid"]) == (["transcode"], failed.errors, False)
    assert not (tmp_path / "clips" / f"{failed.uuid}.mp4").exists()
    assert all(c.ok and c.path is not None for c in (clips[0], *clips[2:]))
    done = run.done("good.mp4")
    assert (done.num_clips, done.num_failed_clips) == (3, 1)
    assert done.errors == {"clips": f"clip 1: {failed.errors['transcode']}"}
    assert run.record("good.mp4")["errors"] == done.errors
    assert_output_is_clean(tmp_path)
    assert_no_child_left()


@pytest.mark.usefixtures("encoder_fails_at_2s")
def test_cli_summary_counts_the_failed_clip(corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = corpus.folder / "good.mp4"
    status = cli.main(["split", str(good), "-o", str(tmp_path), *[a for s in STRIDE for a in ("--set", s)]])
    err = capsys.readouterr().err
    assert status == 1, err  # the video is done, but a clip failed: the run did not wholly succeed
    assert "1 video(s), 0 failed; 3 clip(s) written, 1 clip(s) failed" in err
    assert f"  clip 1 of {good} failed [encode_error]: " in err
    assert "invalid level_idc: 99" in err


# ---------------------------------------------------------------------------------------------
# FFmpegError


async def test_ffmpeg_error_carries_argv_status_and_stderr_tail(tmp_path: Path) -> None:
    argv = [children.ffmpeg_binary(), "-v", "error", "-i", f"file:{tmp_path / 'nope.mp4'}", "-f", "null", "-"]
    with pytest.raises(FFmpegError) as caught:
        await children.run(argv, timeout_s=30)
    error = caught.value
    assert (error.argv, error.returncode, error.timed_out) == (argv, 1, False)
    assert "No such file or directory" in error.stderr_tail
    assert str(error) == f"{argv[0]} exited with status 1: {error.stderr_tail.strip()}"

    forever = [children.ffmpeg_binary(), "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc", "-f", "null", "-"]
    with pytest.raises(FFmpegError) as caught:
        await children.run(forever, timeout_s=1.0)
    assert (caught.value.argv, caught.value.returncode, caught.value.timed_out) == (forever, None, True)
    assert str(caught.value) == f"{forever[0]} timed out and was killed: no result after 1 s"
    assert_no_child_left()


async def test_ffmpeg_error_names_the_cause_not_the_consequence(corpus: Corpus, tmp_path: Path) -> None:
    """ffmpeg prints the cause, then "Error initializing output stream ... maybe incorrect parameters"."""
    argv = [children.ffmpeg_binary(), "-v", "error", "-i", f"file:{corpus.folder / 'good.mp4'}"]
    argv += ["-c:v", "libx264", "-level", "99", "-f", "mp4", "-y", str(tmp_path / "x.mp4")]
    with pytest.raises(FFmpegError) as caught:
        await children.run(argv, timeout_s=30)
    assert "Error initializing output stream" in caught.value.stderr_tail
    assert str(caught.value) == f"{argv[0]} exited with status 1: invalid level_idc: 99"
