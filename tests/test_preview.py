"""Animated WebP previews (Curator's PreviewStage settings): files, names, counters, review page.

One small split (fixed-stride 3 s clips, no detector model) of a 170x90 video: its 240 px high
previews are 453 px wide, an odd width. The files are decoded with Pillow (Debian's ffprobe 5.1
cannot decode an animated WebP: it reports a 0x0 stream) and shown in a real headless Chromium.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import media
import numpy as np
import pytest
from browser import Browser, chromium_or_skip
from PIL import Image, ImageSequence

import streamclip
from streamclip.config import PreviewConfig, load_config
from streamclip.contract.types import Clip, EncodedClipInfo, Event, Span, VideoDone
from streamclip.ffmpeg.probe import probe
from streamclip.review.model import slug_of
from streamclip.review.site import build_report
from streamclip.stages.interface import StageInput
from streamclip.stages.preview import PreviewStage, is_shorter_than_a_frame

SCENES = [("testsrc2", 3.0), ("mandelbrot", 3.0)]
SETTINGS = [
    'spans.mode="fixed_stride"',
    "spans.clip_len_s=3.0",
    "spans.clip_stride_s=3.0",
    "spans.min_clip_length_s=1.0",
    "preview.enabled=true",
]


class PreviewSplit(NamedTuple):
    out: Path
    source: Path
    events: list[Event]


@pytest.fixture(scope="module")
def preview_split(tmp_path_factory: pytest.TempPathFactory) -> PreviewSplit:
    folder = tmp_path_factory.mktemp("previews")
    source = media.make_cut_video(folder / "wide.mp4", scenes=SCENES, size="170x90").path
    events = asyncio.run(streamclip.split([source], folder / "out", load_config("default", SETTINGS)))
    return PreviewSplit(folder / "out", source, events)


def metas(out: Path) -> list[dict[str, Any]]:
    return sorted(
        (json.loads(p.read_text()) for p in (out / "metas" / "v0").glob("*.json")), key=lambda m: m["duration_span"]
    )


def decoded(data: bytes | Path) -> tuple[Image.Image, list[np.ndarray]]:
    image = Image.open(data) if isinstance(data, Path) else Image.open(io.BytesIO(data))
    return image, [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def test_previews_are_animated_webp_named_like_curators_and_counted(preview_split: PreviewSplit) -> None:
    found = metas(preview_split.out)
    assert len(found) == 2
    for meta in found:
        assert meta["preview"] == f"previews/{meta['span_uuid']}/0_{meta['num_frames'] - 1}.webp"
        image, frames = decoded(preview_split.out / meta["preview"])
        assert image.format == "WEBP"
        assert image.is_animated
        assert image.info["loop"] == 0  # loops forever
        assert len(frames) == 3, "1 fps over a 3 s clip"
        assert image.size == (round(240 * 170 / 90), 240)  # the aspect ratio kept, 453: odd
        assert not np.array_equal(frames[0], frames[-1]), "the frames follow the clip"
    done = [e for e in preview_split.events if isinstance(e, VideoDone)]
    assert [d.stats.num_with_webp for d in done] == [2]
    record = json.loads((preview_split.out / "processed_videos" / "wide.mp4.json").read_text())
    assert record["clip_stats"]["num_with_webp"] == 2
    assert not list(preview_split.out.rglob("*.tmp*")), "no temporary file left"


async def test_a_clip_shorter_than_one_frame_interval_gets_its_first_frame(tmp_path: Path) -> None:
    """Curator's `fps=1` filter keeps no frame of a 0.4 s clip (ffmpeg writes an 8-byte file and
    exits 0); here it is a one-frame WebP."""
    path = media.make_cut_video(tmp_path / "short.mp4", scenes=[("testsrc2", 0.4)], size="160x90").path
    meta = await probe(str(path))
    clip = Clip(
        uuid=uuid.uuid4(),
        source=str(path),
        index=0,
        span=Span.from_frames(0, meta.num_frames, meta.fps),
        encoded=EncodedClipInfo.from_metadata(meta),
    )
    config = PreviewConfig(enabled=True)
    assert is_shorter_than_a_frame(clip, config.target_fps)
    output = await PreviewStage(config).process(StageInput(clip=clip, path=path, fields={}))
    assert output.counters == ("num_with_webp",)
    ((name, data),) = output.files.items()
    assert name == output.fields["preview"] == f"previews/{clip.uuid}/0_{meta.num_frames - 1}.webp"
    image, frames = decoded(data)
    assert (image.format, len(frames), image.size) == ("WEBP", 1, (427, 240))


def test_review_page_plays_the_previews_over_the_clips(preview_split: PreviewSplit, tmp_path: Path) -> None:
    chromium = chromium_or_skip()
    site = asyncio.run(build_report(preview_split.out)).root
    page = site / "videos" / f"{slug_of('wide.mp4')}.html"
    with Browser(chromium) as browser:
        browser.open(page.as_uri())
        shown = browser.evaluate(
            "Array.from(document.querySelectorAll('article.card')).map(card => {"
            " const img = card.querySelector('img.preview'); const box = img && img.getBoundingClientRect();"
            " const video = card.querySelector('video').getBoundingClientRect();"
            " return img && {loaded: img.complete && img.naturalWidth, display: getComputedStyle(img).display,"
            " covers: Math.abs(box.width - video.width) < 1 && Math.abs(box.top - video.top) < 1}; })"
        )
        folder = Path(os.environ.get("STREAMCLIP_SCREENSHOTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        browser.screenshot(folder / "previews.png")
        assert browser.problems == []
    assert shown == [{"loaded": round(240 * 170 / 90), "display": "block", "covers": True}] * 2
