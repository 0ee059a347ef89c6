"""Thread counts derived from `[resources] cpus` and the workers; every ffmpeg child gets `-threads`."""

from __future__ import annotations

import pytest

from streamclip.config import load_config
from streamclip.contract.types import VideoMetadata
from streamclip.errors import ConfigError
from streamclip.ffmpeg.argv import decode_argv, frame_count_argv, frames_argv, transcode_argv
from streamclip.ffmpeg.threads import Threads, detector_threads, plan_threads


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [
        (1.0, Threads(encoder=1, transcode_input=1, decoder=1, frames=1, detector=1)),
        (2.0, Threads(encoder=1, transcode_input=1, decoder=1, frames=1, detector=2)),
        (2.5, Threads(encoder=1, transcode_input=1, decoder=1, frames=1, detector=2)),
        (16.0, Threads(encoder=4, transcode_input=2, decoder=2, frames=4, detector=8)),
        (64.0, Threads(encoder=16, transcode_input=8, decoder=4, frames=4, detector=16)),
    ],
)
def test_the_default_profile_scales_with_the_cpus(cpus: float, expected: Threads) -> None:
    assert plan_threads(load_config("default", [f"resources.cpus={cpus}"])) == expected


def test_more_encoders_share_the_cores() -> None:
    threads = plan_threads(load_config("default", ["resources.cpus=16", "transcode.workers=4"]))
    assert (threads.encoder, threads.detector) == (2, 8)


def test_explicit_settings_win() -> None:
    config = load_config("default", ["resources.cpus=16", "transcode.encoder_threads=3", "detector.torch_threads=5"])
    assert plan_threads(config).encoder == 3
    assert detector_threads(config) == 5


def test_negative_thread_counts_are_refused() -> None:
    with pytest.raises(ConfigError, match="encoder_threads"):
        load_config("default", ["transcode.encoder_threads=-1"])


def test_every_ffmpeg_child_gets_explicit_threads() -> None:
    meta = VideoMetadata(path="/v.mp4", size=1, width=1920, height=1080, fps=30.0, num_frames=300,
                         duration_s=10.0, video_codec="h264", pixel_format="yuv420p", audio_codec=None,
                         bit_rate_k=None)  # fmt: skip
    for argv in (
        decode_argv(meta, threads=2),
        transcode_argv(meta, 0, 5, "o.mp4", threads=4, input_threads=2),
        frames_argv("/c.mp4", 30.0, threads=3),
        frame_count_argv("/c.mp4", 30.0, threads=3),
    ):
        before_input = argv[: argv.index("-i")]
        assert "-threads" in before_input, argv  # the decoder's threads
    transcode = transcode_argv(meta, 0, 5, "o.mp4", threads=4, input_threads=2)
    assert transcode[transcode.index("-threads") + 1] == "2"  # source decoding
    encoding = transcode[transcode.index("-c:v") :]
    assert encoding[encoding.index("-threads") + 1] == "4"  # the encoder
