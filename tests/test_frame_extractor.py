"""Frame extraction decodes only what it keeps, and keeps exactly the frames a full decode would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import media
import msgspec
import numpy as np
import pytest

from streamclip.actors.frame_extractor import FrameExtractor
from streamclip.config import FramesConfig, LimitsConfig
from streamclip.contract.rules import middle_index, sample_frame_indices
from streamclip.contract.types import EncodedClipInfo
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import file_url
from streamclip.ffmpeg.probe import probe
from streamclip.runtime.channel import Channel
from streamclip.storage.workspace import Workspace

RATES = [2.0, 1.0, 7.0]


def every_frame(path: Path, fps: float, size: tuple[int, int] | None) -> np.ndarray:
    """The plain way: every frame at constant rate `fps`, scaled and converted, piped."""
    argv = [children.ffmpeg_binary(), "-v", "error", "-i", file_url(path), "-map", "0:v:0",
            "-fps_mode", "cfr", "-r", repr(fps), *(["-s", f"{size[1]}x{size[0]}"] if size else []),
            "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]  # fmt: skip
    data = subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(data, np.uint8).reshape(-1, *size, 3) if size else np.frombuffer(data, np.uint8)


def extractor(size: tuple[int, int] | None, work: Path) -> FrameExtractor:
    config = FramesConfig(policies=["sequence", "middle"], target_fps=RATES, target_res=size)
    return FrameExtractor(Channel(1), Channel(1), config, LimitsConfig(), Workspace(work))


async def info_of(path: Path) -> EncodedClipInfo:
    return EncodedClipInfo.from_metadata(await probe(path))


@pytest.fixture(params=["cut_video", "cut_video_with_audio", "vfr_video", "video_10bit"])
def video(request: pytest.FixtureRequest) -> Path:
    value = request.getfixturevalue(request.param)
    return value if isinstance(value, Path) else value.path


@pytest.mark.parametrize("size", [(36, 64), None])
async def test_the_selected_frames_are_those_of_a_full_decode(
    video: Path, size: tuple[int, int] | None, tmp_path: Path
) -> None:
    info = await info_of(video)
    frames = await extractor(size, tmp_path).extract(str(video), info)
    shape = size or (info.height, info.width)
    reference = every_frame(video, info.framerate, shape).reshape(-1, *shape, 3)
    for rate in RATES:
        indices = sample_frame_indices(len(reference), info.framerate, rate)
        middle = middle_index(indices)
        assert middle is not None
        if video.name == "vfr.mp4":
            assert_same_count(frames[f"sequence-{int(rate * 1000)}"], reference, indices)
            continue
        np.testing.assert_array_equal(frames[f"sequence-{int(rate * 1000)}"], reference[indices])
        np.testing.assert_array_equal(frames[f"middle-{int(rate * 1000)}"], reference[[middle]])


def assert_same_count(frames: np.ndarray, reference: np.ndarray, indices: list[int]) -> None:
    """A variable-rate clip: ffmpeg's `fps` filter (which the selection needs, inside the graph)
    gives each output slot the source frame nearest its time, where `-fps_mode cfr` keeps frames
    by its own tolerances (on this clip it shows the cut, at 2.0 s = frame 57.4, at frame 59; the
    filter at 57). Same number of samples, same size; which source frame fills a slot may differ."""
    assert frames.shape == (len(indices), *reference.shape[1:])


async def test_only_the_samples_and_the_last_frame_are_converted(cut_video: media.CutVideo, tmp_path: Path) -> None:
    info = await info_of(cut_video.path)
    ex = extractor((36, 64), tmp_path)
    runs: list[tuple[list[int], int, int]] = []
    original = ex._run

    async def spy(path: str, info: EncodedClipInfo, chosen: list[int], tail_from: int) -> np.ndarray:
        frames = await original(path, info, chosen, tail_from)
        runs.append((chosen, tail_from, len(frames)))
        return frames

    ex._run = spy  # type: ignore[method-assign]
    frames = await ex.extract(str(cut_video.path), info)
    n = cut_video.num_frames
    samples = sorted({i for r in RATES for i in sample_frame_indices(n, info.framerate, r)} | {n - 1})
    assert runs == [(samples, n, len(samples))]  # one ffmpeg run: the samples and the last frame
    assert len(frames["sequence-7000"]) == len(sample_frame_indices(n, info.framerate, 7.0))
    assert list(tmp_path.rglob("*.rgb")) == []  # the work file is gone


async def test_one_rate_gives_views_of_one_mapped_file(cut_video: media.CutVideo, tmp_path: Path) -> None:
    config = FramesConfig(policies=["sequence", "middle"], target_fps=[2.0])
    ex = FrameExtractor(Channel(1), Channel(1), config, LimitsConfig(), Workspace(tmp_path))
    frames = await ex.extract(str(cut_video.path), await info_of(cut_video.path))
    assert np.shares_memory(frames["sequence-2000"], frames["middle-2000"])
    assert type(frames["sequence-2000"]) is np.ndarray
    assert frames["sequence-2000"].flags.writeable


@pytest.mark.parametrize("error", [-9, 9])
async def test_a_wrong_probed_length_still_gives_the_same_frames(
    cut_video: media.CutVideo, error: int, tmp_path: Path
) -> None:
    info = await info_of(cut_video.path)
    wrong = msgspec.structs.replace(info, num_frames=info.num_frames + error)
    ex = extractor((36, 64), tmp_path)
    right, guessed = await ex.extract(str(cut_video.path), info), await ex.extract(str(cut_video.path), wrong)
    assert right.keys() == guessed.keys()
    for key, frames in right.items():
        np.testing.assert_array_equal(guessed[key], frames)
