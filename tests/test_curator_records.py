"""The JSON records a Curator consumer reads, against records NeMo Curator 1.4.0 wrote.

`tests/data/curator-1.4.0/records/` holds one clip meta, one video record and one clip-chunk record
from a real Curator split run, and a failed clip's meta from Curator's own ClipWriterStage (its
README says how they were made). streamclip must write every key Curator writes, with the same
JSON type, and put its own facts under keys Curator does not use.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import streamclip
from streamclip.config import load_config
from streamclip.contract.types import Clip, EncodedClipInfo, Span, VideoDone, VideoMetadata
from streamclip.errors import Reason
from streamclip.storage.layout import (
    CHUNK_SECONDS,
    ChunkClip,
    chunk_record,
    clip_chunks,
    clip_error_messages,
    clip_record,
    stream_size,
    video_record,
)

RECORDS = Path(__file__).parent / "data" / "curator-1.4.0" / "records"
SAMPLE = Path(__file__).parent.parent / "examples" / "sample.mp4"  # the video Curator's records are of
STRIDE = ["spans.mode='fixed_stride'", "frames.enabled=false"]

# Every key Curator 1.4.0's ClipWriterStage can put in a clip meta (with motion and aesthetic
# filters and captions on): streamclip's own keys must be none of these.
CURATOR_META_KEYS = {
    "span_uuid", "source_video", "duration_span", "width_source", "height_source", "framerate_source",
    "clip_location", "width", "height", "framerate", "num_frames", "video_codec", "num_bytes",
    "motion_score", "aesthetic_score", "errors", "windows", "valid",
}  # fmt: skip


def curator(kind: str, failed: bool = False) -> dict[str, Any]:
    files = sorted((RECORDS / kind).glob("*.json"))
    [path] = [p for p in files if p.name.startswith("failed-") == failed]
    return dict(json.loads(path.read_text()))


def types_of(value: Any) -> Any:
    """The JSON shape of a value: type names, lists by their first item, dicts key by key
    (a dict keyed by clip ids by its first value)."""
    if isinstance(value, dict):
        if value and all(_is_uuid(key) for key in value):
            return {"<uuid>": types_of(next(iter(value.values())))}
        return {key: types_of(item) for key, item in value.items()}
    if isinstance(value, list):
        return [types_of(value[0])] if value else []
    return type(value).__name__


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def assert_curator_shape(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Every key of Curator's record is in ours with the same JSON type (an empty list matches any list)."""
    missing = theirs.keys() - ours.keys()
    assert not missing, f"keys Curator writes and streamclip does not: {sorted(missing)}"
    for key, value in theirs.items():
        mine, expected = types_of(ours[key]), types_of(value)
        if expected == [] or mine == []:
            assert isinstance(ours[key], list), key
        else:
            assert mine == expected, f"{key}: {mine} where Curator writes {expected}"


def test_records_made_by_curator_1_4_0() -> None:
    versions = json.loads((RECORDS / "versions.json").read_text())
    assert versions["nemo-curator"] == "1.4.0"
    assert "errors" not in curator("metas/v0")
    assert curator("metas/v0", failed=True)["errors"] == ["transcode"]


# -- records built from values -------------------------------------------------------------------

META = VideoMetadata(
    path="/videos/sample.mp4", size=1, width=320, height=180, fps=25.0, num_frames=400, duration_s=16.0,
    video_codec="h264", pixel_format="yuv420p", audio_codec="aac",
)  # fmt: skip
ENCODED = EncodedClipInfo(
    width=320, height=180, framerate=25.0, num_frames=75, duration_s=3.0, video_codec="h264", num_bytes=296061
)


def a_clip(*, encoded: bool) -> Clip:
    span = Span(start_frame=312, end_frame=387, start_s=12.48, end_s=15.48)
    clip = Clip(uuid=uuid.uuid4(), source=META.path, index=3, span=span, encoded=ENCODED if encoded else None)
    if not encoded:
        clip.fail("transcode", "ffmpeg exited with status 1", Reason.OTHER)
    return clip


def test_a_clip_meta_has_curators_keys_and_types() -> None:
    ours = clip_record(a_clip(encoded=True), META, "/out/clips/x.mp4")
    assert_curator_shape(ours, curator("metas/v0"))
    assert "errors" not in ours  # Curator writes it only when a stage failed
    assert (ours["windows"], ours["valid"]) == ([], False)  # no caption windows: not valid, as Curator's split
    assert not (ours.keys() - curator("metas/v0").keys()) & CURATOR_META_KEYS


def test_a_failed_clips_meta_names_the_stages_and_keeps_the_messages_apart() -> None:
    clip = a_clip(encoded=False)
    ours = clip_record(clip, META, "/out/clips/x.mp4")
    assert_curator_shape(ours, curator("metas/v0", failed=True))
    assert ours["errors"] == ["transcode"]
    assert ours["error_messages"] == {"transcode": "ffmpeg exited with status 1"}
    assert clip_error_messages(ours) == clip.errors
    assert clip_error_messages({"errors": {"write": "disk full"}}) == {"write": "disk full"}  # an older meta
    assert clip_error_messages(curator("metas/v0", failed=True)) == {"transcode": ""}


def test_the_video_record_is_curators_flat_one_with_its_values() -> None:
    theirs = curator("processed_videos")
    ours = video_record("/videos/sample.mp4", META, num_total_clips=4, num_clip_chunks=1)
    assert ours == theirs  # every key, in Curator's order, and its value for the same video
    assert list(ours) == list(theirs)


def test_a_rotated_source_reports_the_streams_size_as_curator() -> None:
    rotated = VideoMetadata(**{**_fields(META), "width": 180, "height": 320, "rotation": 90})
    assert stream_size(rotated) == (320, 180)
    assert video_record("v", rotated, num_total_clips=0, num_clip_chunks=0)["width"] == 320


def _fields(meta: VideoMetadata) -> dict[str, Any]:
    return {name: getattr(meta, name) for name in meta.__struct_fields__}


def test_a_chunk_record_has_curators_keys_types_and_stats() -> None:
    theirs = curator("processed_clip_chunks")
    durations = [4.0, 3.0, 2.0, 3.0]  # the four clips of Curator's run, in order
    clips = [ChunkClip(i, theirs["clips"][i], d, transcoded=True) for i, d in enumerate(durations)]
    ours = chunk_record("/videos/sample.mp4", 0, clips)
    assert_curator_shape(ours, theirs)
    assert ours == theirs


def test_chunks_group_clips_as_curator_does() -> None:
    """In index order, a chunk closes once the int() seconds of its clips reach 256."""

    def chunk(durations: list[float]) -> list[list[int]]:
        clips = [ChunkClip(i, str(i), d, transcoded=True) for i, d in enumerate(durations)]
        return [[c.clip_index for c in group] for group in clip_chunks(reversed(clips))]  # any arrival order

    assert CHUNK_SECONDS == 256
    assert chunk([]) == []
    assert chunk([9.9] * 28) == [list(range(28))]  # 28 x int(9.9) = 252 < 256
    assert chunk([9.9] * 29) == [list(range(29))]  # 261 >= 256 closes it with the 29th
    assert chunk([10.0] * 26 + [2.0]) == [list(range(26)), [26]]  # 260
    assert chunk([255.9, 0.5, 1.0]) == [[0, 1, 2]]  # 255 + 0 + 1


# -- what a split writes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    folder = tmp_path_factory.mktemp("videos")
    (folder / "sample.mp4").symlink_to(SAMPLE.resolve())
    out = tmp_path_factory.mktemp("out")
    events = asyncio.run(streamclip.split([folder / "sample.mp4"], out, load_config("default", STRIDE)))
    return out, events


def test_a_split_writes_curators_records(split_out: tuple[Path, list[Any]]) -> None:
    out, events = split_out
    [done] = [e for e in events if isinstance(e, VideoDone)]
    metas = [json.loads(p.read_text()) for p in (out / "metas" / "v0").glob("*.json")]
    assert len(metas) == done.num_clips == 2  # 10 s and 6 s
    for meta in metas:
        assert_curator_shape(meta, curator("metas/v0"))
    record = json.loads((out / "processed_videos" / "sample.mp4.json").read_text())
    assert_curator_shape(record, curator("processed_videos"))
    same_video = {k: v for k, v in curator("processed_videos").items() if k not in ("video", "num_total_clips")}
    assert {k: record[k] for k in same_video} == same_video  # Curator's values for this video
    assert (record["num_total_clips"], record["status"]) == (2, "done")
    chunk = json.loads((out / "processed_clip_chunks" / "sample.mp4_0.json").read_text())
    assert_curator_shape(chunk, curator("processed_clip_chunks"))
    by_index = sorted(metas, key=lambda meta: meta["clip_index"])
    assert chunk["clips"] == [meta["span_uuid"] for meta in by_index]
    assert (chunk["num_clips_passed"], chunk["num_clips_transcoded"], chunk["total_clip_duration"]) == (2, 2, 16.0)
    assert sorted(p.name for p in (out / "processed_clip_chunks").iterdir()) == ["sample.mp4_0.json"]


def test_a_video_without_clips_gets_curators_empty_chunk(tmp_path: Path) -> None:
    config = load_config("default", [*STRIDE, "spans.min_clip_length_s=20.0"])
    asyncio.run(streamclip.split([SAMPLE], tmp_path, config))
    record = json.loads((tmp_path / "processed_videos" / "sample.mp4.json").read_text())
    assert (record["num_total_clips"], record["num_clip_chunks"]) == (0, 0)
    chunk = json.loads((tmp_path / "processed_clip_chunks" / "sample.mp4_0.json").read_text())
    assert (chunk["clips"], chunk["num_clips_passed"], chunk["total_clip_duration"]) == ([], 0, 0.0)
