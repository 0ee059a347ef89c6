"""Curation stages after the split (streamclip.stages): fields, drops, failures, bounds, loading, resume.

One small generated video cut at fixed stride into four 2 s clips, two of them (near-)black: no
detector, so each pipeline run costs a few tiny encodes; tests that look at one run share it.
Stages here are small classes written for the test; the example stage
(examples/brightness_stage.py) runs in tests/test_examples.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import media
import numpy as np
import pytest

import streamclip
from streamclip import ClipReady, Stage, StageInput, StageOutput, VideoDone
from streamclip.config import PipelineConfig, StageConfig, config_from_dict, load_config
from streamclip.contract.stats import PipelineStats
from streamclip.errors import ConfigError, Reason
from streamclip.ingest.config import load_serve_config, settings_hash
from streamclip.ingest.metrics import LiveStats, Metrics
from streamclip.stages.loading import load_stage
from streamclip.stages.runner import StageOutputError, check_output

STRIDE = ["spans.mode='fixed_stride'", "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0"]
SCENES = [("color=c=black", 2.0), ("testsrc2", 2.0), ("color=c=0x101010", 2.0), ("smptebars", 2.0)]
CLIPS = len(SCENES)
DARK = {0, 2}  # clip indices of the dark scenes


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.make_cut_video(tmp_path_factory.mktemp("stages") / "dark_and_bright.mp4", scenes=SCENES).path


def config(*overrides: str) -> PipelineConfig:
    return load_config("default", [*STRIDE, *overrides])


class Brightness:
    """Adds the sampled frames' mean brightness under its name; drops a clip under `below` (None: none)."""

    concurrency = 2

    def __init__(self, below: float | None = None, *, name: str = "brightness", counter: str | None = None) -> None:
        self.name, self.below, self.drop_counter = name, below, counter
        self.calls = 0
        self.closed = 0

    async def process(self, item: StageInput) -> StageOutput:
        self.calls += 1
        assert item.path.is_file()  # the encoded clip, readable while process() runs
        mean = float(np.mean([frames.mean() for frames in item.clip.frames.values()]))
        dark = self.below is not None and mean < self.below
        files = {f"{self.name}/{item.clip.uuid}.txt": f"{mean:.1f}".encode()}
        return StageOutput(fields={self.name: round(mean, 2)}, drop="too dark" if dark else None, files=files)

    async def close(self) -> None:
        self.closed += 1


async def run(video: Path, out: Path | None, stages: Sequence[Stage], cfg: PipelineConfig | None = None) -> Run:
    async with streamclip.open_pipeline(cfg or config(), out, stages=stages) as pipe:
        await pipe.submit(video)
        pipe.close_input()
        events = [event async for event in pipe]
        stats = pipe.statistics()
    return Run(events, stats)


class Run:
    def __init__(self, events: list[streamclip.Event], stats: PipelineStats) -> None:
        self.events = events
        self.stats = stats
        self.clips = sorted((e.clip for e in events if isinstance(e, ClipReady)), key=lambda clip: clip.index)
        [self.done] = [e for e in events if isinstance(e, VideoDone)]


def meta(out: Path, clip: streamclip.Clip) -> dict[str, object]:
    return json.loads((out / "metas" / "v0" / f"{clip.uuid}.json").read_text())  # type: ignore[no-any-return]


def record(out: Path) -> dict[str, object]:
    [path] = (out / "processed_videos").glob("*.json")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


class Dropped:
    """One run whose stage adds a field and a file to every clip and drops the dark ones."""

    def __init__(self, video: Path, out: Path) -> None:
        self.out = out
        self.stage = Brightness(below=20, counter="num_filtered_by_motion")
        self.run = asyncio.run(run(video, out, [self.stage]))


@pytest.fixture(scope="module")
def dropped(video: Path, tmp_path_factory: pytest.TempPathFactory) -> Dropped:
    return Dropped(video, tmp_path_factory.mktemp("dropped"))


def test_a_stage_adds_fields_to_the_meta_and_the_event_and_writes_its_files(dropped: Dropped) -> None:
    result, out = dropped.run, dropped.out
    assert [clip.index for clip in result.clips] == list(range(CLIPS))
    for clip in result.clips:
        value = clip.fields["brightness"]
        assert meta(out, clip)["brightness"] == value
        assert meta(out, clip)["stages"]["names"] == ["brightness"]  # type: ignore[index]
        assert meta(out, clip)["stages"]["fields"] == ["brightness"]  # type: ignore[index]
        assert (out / "brightness" / f"{clip.uuid}.txt").read_text() == f"{value:.1f}"  # a dropped clip's too
        assert clip.files == {}  # written, not carried by the event
    assert all((clip.fields["brightness"] < 20) == (clip.index in DARK) for clip in result.clips)
    assert (dropped.stage.calls, dropped.stage.closed) == (CLIPS, 1)
    assert result.stats.stages["brightness"].processed == CLIPS


def test_a_stage_drops_clips_keeping_their_meta_and_counting_them(dropped: Dropped) -> None:
    result, out = dropped.run, dropped.out
    assert {clip.index for clip in result.clips if not clip.kept} == DARK
    kept = [clip for clip in result.clips if clip.kept]
    assert {p.stem for p in (out / "clips").glob("*.mp4")} == {str(clip.uuid) for clip in kept}
    for index in DARK:
        clip = result.clips[index]
        assert clip.ok
        assert clip.path is None
        assert (clip.drop_reason, clip.dropped_by) == ("too dark", "brightness")
        written = meta(out, clip)
        assert (written["drop_reason"], written["dropped_by"]) == ("too dark", "brightness")
        assert written["stages"]["counters"] == ["num_filtered_by_motion"]  # type: ignore[index]
        assert written["clip_location"] == str(out / "filtered_clips" / f"{clip.uuid}.mp4")  # as Curator names it
    stats = result.done.stats
    assert (stats.num_passed, stats.num_filtered, stats.num_filtered_by_motion) == (CLIPS - 2, 2, 2)
    assert stats.num_transcoded == CLIPS
    assert stats.total_clip_duration == pytest.approx(2.0 * CLIPS)  # Curator's: kept and filtered clips
    assert result.done.num_clips == CLIPS - 2
    saved = record(out)
    assert saved["num_clips_dropped"] == 2
    assert saved["clip_stats"]["num_filtered_by_motion"] == 2  # type: ignore[index]
    assert saved["clip_stats"]["num_passed"] == CLIPS - 2  # type: ignore[index]
    [chunk_file] = (out / "processed_clip_chunks").glob("*.json")
    chunk = json.loads(chunk_file.read_text())
    assert sorted(chunk["filtered_clips"]) == sorted(str(result.clips[i].uuid) for i in DARK)
    assert (chunk["num_clips_passed"], chunk["num_clips_filtered_by_motion"]) == (CLIPS - 2, 2)


async def test_without_an_output_folder_the_stages_after_a_drop_do_not_see_the_clip(video: Path) -> None:
    first, second = Brightness(below=20), Brightness(name="second")
    result = await run(video, None, [first, second])
    assert (first.calls, second.calls) == (CLIPS, CLIPS - 2)
    for clip in result.clips:
        assert clip.stages == (["brightness"] if clip.index in DARK else ["brightness", "second"])
        assert (clip.buffer is not None) == clip.kept
        assert clip.files[f"brightness/{clip.uuid}.txt"] == f"{clip.fields['brightness']:.1f}".encode()
        assert (f"second/{clip.uuid}.txt" in clip.files) == clip.kept
    assert result.done.stats.num_filtered == 2


class Failing:
    """Raises on one clip; the others pass."""

    name, concurrency, drop_counter = "picky", 1, None

    def __init__(self, index: int) -> None:
        self.index = index

    async def process(self, item: StageInput) -> StageOutput:
        if item.clip.index == self.index:
            raise RuntimeError("cannot score this one")
        return StageOutput(fields={"picked": True})

    async def close(self) -> None:
        pass


async def test_a_failing_stage_fails_that_clip_only(video: Path, tmp_path: Path) -> None:
    result = await run(video, tmp_path, [Failing(index=3)])
    failed = result.clips[3]
    assert failed.failure_kind is Reason.STAGE_ERROR
    assert failed.errors == {"picky": "RuntimeError: cannot score this one"}
    assert meta(tmp_path, failed)["errors"] == ["picky"]
    assert not (tmp_path / "clips" / f"{failed.uuid}.mp4").exists()
    assert all(clip.kept and clip.fields == {"picked": True} for i, clip in enumerate(result.clips) if i != 3)
    assert (result.done.num_clips, result.done.num_failed_clips) == (CLIPS - 1, 1)
    assert result.stats.stages["picky"].failed == 1


class Unusable:
    """Returns outputs the pipeline must refuse, one kind per clip."""

    name, concurrency, drop_counter = "unusable", 1, None
    OUTPUTS: Mapping[int, object] = {
        0: {"not": "a StageOutput"},
        1: StageOutput(fields={"span_uuid": "taken"}),
        2: StageOutput(fields={"x": object()}),
        3: StageOutput(files={"../outside.txt": b""}),
    }

    async def process(self, item: StageInput) -> StageOutput:
        return self.OUTPUTS[item.clip.index]  # type: ignore[return-value]

    async def close(self) -> None:
        pass


async def test_an_unusable_output_fails_the_clip_naming_what_is_wrong(video: Path, tmp_path: Path) -> None:
    result = await run(video, tmp_path, [Unusable()])
    messages = [clip.errors["unusable"] for clip in result.clips]
    for message, expected in zip(messages, ["not a StageOutput", "span_uuid", "JSON", "relative path"],
                                 strict=True):  # fmt: skip
        assert expected in message
    assert not (tmp_path.parent / "outside.txt").exists()


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (StageOutput(counters=("num_nonsense",)), "unknown counters"),
        (StageOutput(counters=("num_passed",)), "unknown counters"),  # the writer's own
        (StageOutput(drop=""), "reason in words"),
        (StageOutput(files={"clips/x.mp4": b""}), "folder the output layout owns"),
        (StageOutput(files={"/etc/x": b""}), "relative path"),
        (StageOutput(files={"a.txt": "text"}), "must be bytes"),  # type: ignore[dict-item]
        (StageOutput(fields={"brightness": 1}), "already in the clip's meta"),
    ],
)
def test_what_a_stage_may_not_return(output: StageOutput, says: str) -> None:
    with pytest.raises(StageOutputError, match=says):
        check_output(Brightness(), a_clip(), output)


def a_clip() -> streamclip.Clip:
    return streamclip.Clip(
        uuid=streamclip.clip_uuid("/v.mp4", 0, 50), source="/v.mp4", index=0,
        span=streamclip.Span.from_frames(0, 50, 25.0), fields={"brightness": 3.0},
    )  # fmt: skip


def test_numpy_values_in_fields_become_plain_json_values() -> None:
    output = StageOutput(fields={"score": np.float32(0.5), "counts": np.arange(3), "flag": np.bool_(True)})
    fields = check_output(Brightness(), a_clip(), output)
    assert fields == {"score": 0.5, "counts": [0, 1, 2], "flag": True}
    assert [type(value) for value in fields.values()] == [float, list, bool]


class Gate:
    """Counts the clips inside process(); each waits until `concurrency` are inside at once."""

    name, drop_counter = "gate", None

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.inside = 0
        self.most = 0
        self.full = asyncio.Event()

    async def process(self, item: StageInput) -> StageOutput:
        self.inside += 1
        self.most = max(self.most, self.inside)
        if self.inside == self.concurrency:
            self.full.set()  # the bound is reached: from now on nobody waits
        try:
            await self.full.wait()
        finally:
            self.inside -= 1
        return StageOutput()

    async def close(self) -> None:
        pass


async def test_at_most_concurrency_clips_are_inside_a_stage_and_it_gets_there(video: Path) -> None:
    gate = Gate(concurrency=2)
    result = await run(video, None, [gate])  # would hang (per-test timeout) if two never were inside
    assert gate.most == 2
    assert all(clip.kept for clip in result.clips)


class Blocking:
    name, concurrency, drop_counter = "blocking", 1, None

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.cancelled = False
        self.closed = False

    async def process(self, item: StageInput) -> StageOutput:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return StageOutput()

    async def close(self) -> None:
        self.closed = True


async def test_leaving_the_pipeline_cancels_the_stages_work_and_closes_them(video: Path, tmp_path: Path) -> None:
    stage = Blocking()
    async with streamclip.open_pipeline(config(), tmp_path, stages=[stage]) as pipe:
        await pipe.submit(video)
        await asyncio.wait_for(stage.entered.wait(), 120)
    assert stage.cancelled
    assert stage.closed
    assert not list(tmp_path.glob(".streamclip-work-*"))


async def test_a_rerun_reuses_finished_and_dropped_clips_without_encoding_or_scoring(
    video: Path, tmp_path: Path
) -> None:
    await run(video, tmp_path, [])  # an earlier split without stages: every clip kept
    assert len(list((tmp_path / "clips").glob("*.mp4"))) == CLIPS
    first = Brightness(below=20)
    scored = await run(video, tmp_path, [first])  # other stages made those metas: made again
    assert (first.calls, scored.stats.transcoder.encoded) == (CLIPS, CLIPS)
    assert len(list((tmp_path / "clips").glob("*.mp4"))) == CLIPS - 2  # the dropped clips' files went
    again = Brightness(below=20)
    rerun = await run(video, tmp_path, [again])
    assert again.calls == 0
    assert (rerun.stats.transcoder.encoded, rerun.stats.transcoder.reused) == (0, CLIPS)
    assert [(c.uuid, c.fields, c.drop_reason, c.kept, c.stages) for c in rerun.clips] == [
        (c.uuid, c.fields, c.drop_reason, c.kept, c.stages) for c in scored.clips
    ]
    assert rerun.done.stats == scored.done.stats


async def test_without_stages_the_pipeline_and_its_metas_are_as_before(video: Path, tmp_path: Path) -> None:
    result = await run(video, tmp_path, [])
    assert set(result.stats.channels) == {"jobs", "spans", "encoded", "sampled", "events"}
    assert result.stats.stages == {}
    before = {"span_uuid", "source_video", "duration_span", "width_source", "height_source", "framerate_source",
              "clip_location", "width", "height", "framerate", "num_frames", "video_codec", "num_bytes", "windows",
              "valid", "clip_index", "frame_span", "duration_s", "frame_signatures"}  # fmt: skip
    assert all(set(meta(tmp_path, clip)) == before for clip in result.clips)
    assert not {"clip_stats", "num_clips_dropped"} & set(record(tmp_path))
    assert result.done.stats.num_passed == CLIPS


# ---------------------------------------------------------------------------------------------
# Loading stages by import path


STAGE_MODULE = """
from streamclip import StageOutput

class Tagger:
    concurrency = 1
    drop_counter = None

    def __init__(self, settings):
        self.name = "tagger"
        self.tag = settings["tag"]

    async def process(self, item):
        return StageOutput(fields={"tag": self.tag})

    async def close(self):
        pass

def not_a_stage(settings):
    return 42

def refuses(settings):
    raise ValueError("tag is required")

NOT_CALLABLE = "text"
"""


@pytest.fixture
def stage_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "stage_modules"
    folder.mkdir()
    (folder / "my_stages_for_test.py").write_text(STAGE_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "my_stages_for_test", raising=False)
    return "my_stages_for_test"


async def test_a_stage_from_a_profile_by_import_path(video: Path, tmp_path: Path, stage_module: str) -> None:
    profile = tmp_path / "tagged.toml"
    profile.write_text(
        textwrap.dedent(f"""
        [spans]
        mode = "fixed_stride"
        clip_len_s = 2.0
        clip_stride_s = 2.0

        [[stages]]
        use = "{stage_module}:Tagger"
        [stages.settings]
        tag = "from the profile"
    """)
    )
    cfg = load_config(profile)
    assert cfg.stages == [StageConfig(use=f"{stage_module}:Tagger", settings={"tag": "from the profile"})]
    result = await run(video, tmp_path / "out", [], cfg)
    assert all(clip.fields == {"tag": "from the profile"} for clip in result.clips)
    assert all(meta(tmp_path / "out", clip)["tag"] == "from the profile" for clip in result.clips)


@pytest.mark.parametrize(
    ("use", "says"),
    [
        ("no_such_module_here:Stage", "module 'no_such_module_here' not found"),
        ("{module}:Missing", "has no 'Missing'"),
        ("{module}:NOT_CALLABLE", "not a callable factory"),
        ("{module}:not_a_stage", "returned a int, not a Stage"),
        ("{module}:refuses", "could not be built: ValueError: tag is required"),
    ],
)
def test_a_bad_import_path_is_a_config_error_that_says_why(stage_module: str, use: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_stage(StageConfig(use=use.format(module=stage_module)))


def test_a_stage_entry_is_checked_as_the_config_is_read() -> None:
    with pytest.raises(ConfigError, match=r"expected 'package\.module:Factory'"):
        config_from_dict({"stages": [{"use": "just_a_module"}]})
    with pytest.raises(ConfigError, match=r"unknown key stages\[0\].tag"):
        config_from_dict({"stages": [{"use": "a:B", "tag": 1}]})


async def test_stages_that_cannot_run_are_refused_and_those_built_are_closed(video: Path, stage_module: str) -> None:
    twins = [Brightness(), Brightness()]
    with pytest.raises(ConfigError, match="unique"):
        await run(video, None, twins)
    given = Brightness()
    broken = config_from_dict({"spans": {"mode": "fixed_stride"}, "stages": [{"use": f"{stage_module}:refuses"}]})
    with pytest.raises(ConfigError, match="tag is required"):
        await run(video, None, [given], broken)
    assert [stage.closed for stage in [*twins, given]] == [1, 1, 1]


def test_the_daemon_config_adds_its_stages_after_the_profiles(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    serve = tmp_path / "serve.toml"
    serve.write_text(
        textwrap.dedent("""
        watch = ["in"]
        output = "out"

        [[stages]]
        use = "my_stages:Tagger"
        [stages.settings]
        tag = "daemon"
    """)
    )
    loaded = load_serve_config(serve)
    assert loaded.pipeline_config().stages == [StageConfig(use="my_stages:Tagger", settings={"tag": "daemon"})]
    assert settings_hash(loaded.pipeline_config()) != settings_hash(load_config("default"))


def test_the_daemon_exports_each_stages_clips_by_outcome() -> None:
    metrics = Metrics(lambda: LiveStats(channels={}, stages={"brightness": (3, 2, 1)}))
    lines = metrics.exposition().decode().splitlines()
    for outcome, count in (("processed", 3), ("dropped", 2), ("failed", 1)):
        assert f'streamclip_stage_clips_total{{outcome="{outcome}",stage="brightness"}} {count}.0' in lines
