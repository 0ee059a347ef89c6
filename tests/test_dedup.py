"""Near-duplicate flags on real video: one video under two names, distinct scenes, across runs.

Fixed-stride 2 s clips over 2 s scenes (no detector model), 160x90: each clip is one scene. The
re-upload is the same picture with other bytes (a remux with another title), as a file uploaded
again is; a byte-identical copy the daemon already skips by its content fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import media
import numpy as np
import pytest
from processes import running, states, wait_until

import streamclip
from streamclip.config import PipelineConfig, load_config
from streamclip.contract.types import ClipReady, VideoDone
from streamclip.ingest.config import NEAR_DUPLICATES_NAME, ServeConfig
from streamclip.stages.perceptual_hash import area_resize, clip_hash, hamming, pick_frames

STRIDE_2S = [
    'spans.mode="fixed_stride"',
    "spans.clip_len_s=2.0",
    "spans.clip_stride_s=2.0",
    "spans.min_clip_length_s=1.0",
    "dedup.enabled=true",
]
SCENES = [("testsrc2", 2.0), ("mandelbrot", 2.0), ("smptebars", 2.0)]
OTHER_SCENES = [("testsrc", 2.0), ("life", 2.0), ("cellauto", 2.0)]


class DedupMedia(NamedTuple):
    original: Path
    reupload: Path  # the same picture, other bytes, another name
    other: Path  # other scenes


@pytest.fixture(scope="module")
def dedup_media(tmp_path_factory: pytest.TempPathFactory) -> DedupMedia:
    folder = tmp_path_factory.mktemp("dedup_media")
    original = media.make_cut_video(folder / "original.mp4", scenes=SCENES).path
    reupload = folder / "holiday (1).mp4"
    media.ffmpeg("-i", original, "-c", "copy", "-metadata", "title=uploaded again", reupload)
    assert reupload.read_bytes() != original.read_bytes()
    other = media.make_cut_video(folder / "other.mp4", scenes=OTHER_SCENES).path
    return DedupMedia(original, reupload, other)


def config(*overrides: str) -> PipelineConfig:
    return load_config("default", [*STRIDE_2S, *overrides])


def metas(out: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "metas" / "v0").glob("*.json")}


def by_source(found: dict[str, dict[str, Any]], source: Path) -> list[dict[str, Any]]:
    return sorted((m for m in found.values() if m["source_video"] == str(source)), key=lambda m: m["duration_span"])


def flagged(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in records if "near_duplicate_of" in m]


# ---------------------------------------------------------------------------------------------
# The hash itself


def test_hash_hardly_depends_on_the_frames_size_and_refuses_flat_frames() -> None:
    rng = np.random.default_rng(5)
    waves = rng.uniform(0.0, 5.0, size=(3, 6, 2)), rng.uniform(0, 2 * np.pi, size=(3, 6))

    def at_size(height: int, width: int) -> np.ndarray:
        """The same smooth picture (a few random waves, as footage is mostly smooth) at a size."""
        y, x = (np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width
        frequency, phase = waves
        field = np.cos(2 * np.pi * (frequency[..., 0, None, None] * y[:, None] + frequency[..., 1, None, None] * x)
                       + phase[..., None, None]).sum(axis=1)  # fmt: skip
        grey = (128 + 20 * field).clip(0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=3)

    exact = clip_hash(at_size(96, 128))
    assert exact is not None
    assert clip_hash(at_size(288, 384)) == exact  # whole multiples of 32: the same 32x32 means
    for height, width in ((90, 160), (180, 320), (72, 130)):
        other = clip_hash(at_size(height, width))
        assert other is not None
        assert hamming(other, exact) <= 6, (height, width)
    assert clip_hash(np.full((4, 90, 160, 3), 128, dtype=np.uint8)) is None
    assert clip_hash(np.zeros((0, 90, 160, 3), dtype=np.uint8)) is None
    assert pick_frames(10) == [0, 3, 6, 9]
    assert pick_frames(2) == [0, 1]
    image = np.random.default_rng(6).random((91, 161)) * 255
    assert area_resize(image).mean() == pytest.approx(image.mean(), rel=0.02)


# ---------------------------------------------------------------------------------------------
# One run (in memory)


async def test_a_video_under_two_names_is_flagged_in_one_run(dedup_media: DedupMedia, tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = [dedup_media.original, dedup_media.reupload, dedup_media.other]
    events = await streamclip.split(paths, out, config())
    found = metas(out)
    original, reupload = by_source(found, dedup_media.original), by_source(found, dedup_media.reupload)
    assert len(original) == len(reupload) == len(SCENES)
    for first, second in zip(original, reupload, strict=True):  # the same span of either file
        pair = {first["span_uuid"]: first, second["span_uuid"]: second}
        copies = flagged(pair.values())
        assert len(copies) == 1, "exactly one of the two is the duplicate (whichever finished later)"
        assert copies[0]["near_duplicate_of"] in pair
        assert copies[0]["near_duplicate_of"] != copies[0]["span_uuid"]
        assert copies[0]["near_duplicate_distance"] <= 8
        assert first["perceptual_hash"] == second["perceptual_hash"]
    assert flagged(by_source(found, dedup_media.other)) == [], "distinct scenes are not near-duplicates"
    kept = {p.stem for p in (out / "clips").glob("*.mp4")}
    assert kept == set(found), "duplicates are kept by default"
    done = [e for e in events if isinstance(e, VideoDone)]
    assert [d.stats.num_passed for d in done] == [3, 3, 3]


# ---------------------------------------------------------------------------------------------
# Across runs: pipelines sharing a persisted index


async def test_a_reupload_is_caught_by_a_later_pipeline_sharing_the_index(
    dedup_media: DedupMedia, tmp_path: Path
) -> None:
    """The second pipeline hashes frames it decodes itself (frames off) where the first used the
    extractor's: the same clip either way. With `drop`, the duplicates are filtered, meta kept, and
    the preview stage after dedup does not see them."""
    index = tmp_path / "index" / "near.sqlite"
    first_out, second_out = tmp_path / "first", tmp_path / "second"
    await streamclip.split([dedup_media.original], first_out, config(f'dedup.index="{index}"'))
    originals = by_source(metas(first_out), dedup_media.original)
    assert flagged(originals) == []

    overrides = (f'dedup.index="{index}"', "dedup.drop=true", "frames.enabled=false", "preview.enabled=true")
    events = await streamclip.split([dedup_media.reupload, dedup_media.other], second_out, config(*overrides))
    found = metas(second_out)
    copies = by_source(found, dedup_media.reupload)
    assert [m.get("near_duplicate_of") for m in copies] == [m["span_uuid"] for m in originals]
    assert all(m["near_duplicate_distance"] <= 8 for m in copies)
    assert all("near-duplicate of clip" in m["drop_reason"] for m in copies)
    others = by_source(found, dedup_media.other)
    assert flagged(others) == []
    kept = {p.stem for p in (second_out / "clips").glob("*.mp4")}
    assert kept == {m["span_uuid"] for m in others}, "dropped duplicates leave no clip file"
    stats = {Path(e.source).name: e.stats for e in events if isinstance(e, VideoDone)}
    assert (stats[dedup_media.reupload.name].num_filtered, stats[dedup_media.reupload.name].num_passed) == (3, 0)
    assert (stats["other.mp4"].num_filtered, stats["other.mp4"].num_passed) == (0, 3)
    # Dedup runs before preview: a dropped duplicate gets no preview, a kept clip does.
    assert [stats[name].num_with_webp for name in (dedup_media.reupload.name, "other.mp4")] == [0, 3]
    assert not any("preview" in m for m in copies)
    assert all((second_out / m["preview"]).is_file() for m in others)
    dropped = [e.clip for e in events if isinstance(e, ClipReady) and not e.clip.kept]
    assert {c.dropped_by for c in dropped} == {"dedup"}


def test_serve_keeps_the_index_beside_its_ledger(dedup_media: DedupMedia, tmp_path: Path) -> None:
    """Two daemon runs: the second catches a re-upload of a video the first finished."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    (inbox / "original.mp4").write_bytes(dedup_media.original.read_bytes())
    settings = [*STRIDE_2S, "transcode.workers=1", "frames.enabled=false"]
    lines = [
        'watch = ["in"]',
        'output = "out"',
        f"set = {json.dumps(settings)}",
        "settle_s = 0.3",
        'metrics_address = ""',
    ]
    config_file = tmp_path / "serve.toml"
    config_file.write_text("\n".join(lines) + "\n")
    args = ["serve", "--config", str(config_file)]
    with running(args, tmp_path, tmp_path / "first.log") as first:
        wait_until(lambda: states(out) == {"original.mp4": "done"}, "the first video", first)
        assert first.stop()[0] == 0
    assert (out / ".streamclip" / NEAR_DUPLICATES_NAME).is_file()
    originals = {m["span_uuid"] for m in metas(out).values()}

    (inbox / "holiday (1).mp4").write_bytes(dedup_media.reupload.read_bytes())
    with running(args, tmp_path, tmp_path / "second.log") as second:
        wanted = {"original.mp4": "done", "holiday (1).mp4": "done"}
        wait_until(lambda: states(out) == wanted, "the re-upload", second)
        assert second.stop()[0] == 0
    copies = [m for m in metas(out).values() if m["source_video"].endswith("holiday (1).mp4")]
    assert len(copies) == 3
    assert {m["near_duplicate_of"] for m in copies} == originals


def test_the_daemon_index_defaults_beside_the_ledger(tmp_path: Path) -> None:
    serve = ServeConfig(watch=["in"], output=str(tmp_path / "out"), overrides=["dedup.enabled=true"])
    assert serve.pipeline_config().dedup.index == str(tmp_path / "out" / ".streamclip" / NEAR_DUPLICATES_NAME)
    chosen = ServeConfig(watch=["in"], output="out", overrides=["dedup.enabled=true", 'dedup.index="/srv/i.sqlite"'])
    assert chosen.pipeline_config().dedup.index == "/srv/i.sqlite"
    assert ServeConfig(watch=["in"], output="out").pipeline_config().dedup.index == ""  # off: nothing kept
