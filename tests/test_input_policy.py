"""What a file in a watched or given folder may make streamclip read: only itself (no playlist
followed to other files), and symlinks by one policy on file events and rescans alike."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import media
import pytest

import streamclip
from streamclip.config import load_config
from streamclip.contract.types import ClipReady, VideoFailed
from streamclip.errors import Reason
from streamclip.ingest.watcher import Candidate, SymlinkPolicy, Watcher
from streamclip.runtime.channel import Channel, EndOfStream

STRIDE = ["spans.mode='fixed_stride'", "spans.clip_len_s=1.0", "spans.clip_stride_s=1.0", "frames.enabled=false"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("hls.mp4", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{secret}\n#EXT-X-ENDLIST\n"),
        ("concat.mp4", "ffconcat version 1.0\nfile secret.mp4\n"),
    ],
)
async def test_a_playlist_named_like_a_video_does_not_open_other_files(
    cut_video: media.CutVideo, tmp_path: Path, name: str, text: str
) -> None:
    """An HLS playlist or concat list dropped in: ffmpeg used to follow it to `secret.mp4` and cut
    that file into clips; now it is refused as not a video, and nothing else is read."""
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(cut_video.path.read_bytes())
    playlist = tmp_path / name
    playlist.write_text(text.format(secret=secret))
    events = await streamclip.split([playlist], tmp_path / "out", load_config("default", STRIDE))
    assert not [e for e in events if isinstance(e, ClipReady)]
    (failed,) = events
    assert isinstance(failed, VideoFailed)
    assert failed.kind == Reason.NOT_A_VIDEO
    assert "refused (it would make ffmpeg open other files)" in failed.reason


def test_the_review_site_never_follows_a_playlist_named_like_a_video(cut_video: media.CutVideo, tmp_path: Path) -> None:
    """A video replaced by an HLS playlist after its split: `streamclip report` grabs its strip with
    the pipeline's whitelists, so no frame of the file the playlist names reaches the site."""
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(cut_video.path.read_bytes())
    playlist = tmp_path / "in" / "hls.mp4"
    playlist.parent.mkdir()
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{secret}\n#EXT-X-ENDLIST\n")
    out = tmp_path / "out"
    (out / "processed_videos").mkdir(parents=True)
    record = {"video": str(playlist), "metadata": {"duration_s": 2.0, "fps": 25.0}, "status": "done", "errors": {}}
    (out / "processed_videos" / "hls.mp4.json").write_text(json.dumps(record))
    done = subprocess.run(
        [sys.executable, "-m", "streamclip", "report", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "review site of 1 video(s)" in done.stderr
    assert not list((out / "report" / "media").rglob("*.jpg"))


def test_an_ffmpeg_that_cannot_list_its_demuxers_fails_each_video_with_the_reason(
    cut_video: media.CutVideo, tmp_path: Path
) -> None:
    """Without the list there is no whitelist: the video fails, saying why, instead of being read
    with none (it used to be split as if nothing were wrong)."""
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do [ "$arg" = "-demuxers" ] && { echo "no list today" >&2; exit 1; }; done\n'
        f'exec {shutil.which("ffmpeg")} "$@"\n'
    )
    wrapper.chmod(0o755)
    argv = [
        sys.executable,
        "-m",
        "streamclip",
        "split",
        str(cut_video.path),
        "-o",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    argv += [arg for setting in [*STRIDE, "spans.min_clip_length_s=0.5"] for arg in ("--set", setting)]
    env = {**os.environ, "STREAMCLIP_FFMPEG": str(wrapper)}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 1, done.stderr
    assert "0 clip(s) written" in done.stderr
    assert f"FAILED {cut_video.path} [tool_error]: cannot open inputs safely: ffmpeg -demuxers failed" in done.stderr
    assert not list((tmp_path / "out").glob("clips/*.mp4"))


# ---------------------------------------------------------------------------------------------
# Symlinks in a watched folder


def tree(tmp_path: Path) -> Path:
    """in/ with a plain file, links to a file inside and outside, and a link to an outside folder."""
    root, outside = tmp_path / "in", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    media.make_text(root / "sub" / "real.mp4")
    media.make_text(outside / "o.mp4")
    media.make_text(outside / "secret.mp4")
    return root


def add_links(root: Path) -> None:
    outside = root.parent / "outside"
    os.symlink(root / "sub" / "real.mp4", root / "link_in.mp4")
    os.symlink(outside / "secret.mp4", root / "link_out.mp4")
    os.symlink(outside, root / "linkdir")


EXPECTED: dict[str, set[str]] = {
    "inside": {"sub/real.mp4", "link_in.mp4"},
    "never": {"sub/real.mp4"},
    "follow": {"sub/real.mp4", "link_in.mp4", "link_out.mp4", "linkdir/o.mp4", "linkdir/secret.mp4"},
}


async def watched(root: Path, policy: SymlinkPolicy, *, links_after_start: bool) -> set[str]:
    """The rels a watcher hands on: links made before it starts (found by its first rescan) or
    after (found by file events alone: no rescan comes in the test's time)."""
    if not links_after_start:
        add_links(root)
    inbox: Channel[Candidate] = Channel(16, "candidates")
    watcher = Watcher([root], inbox, settle_s=0.2, rescan_s=3600, incomplete_wait_s=0.0, symlinks=policy)
    task = asyncio.create_task(watcher.run())
    got: set[str] = set()
    try:
        if links_after_start:
            got.add((await inbox.receive(timeout_s=4.0)).rel)  # the first scan is over: the rest are events
            add_links(root)
        deadline = time.monotonic() + 4.0
        while len(got) < len(EXPECTED["follow"]) and (left := deadline - time.monotonic()) > 0:
            try:
                got.add((await inbox.receive(timeout_s=min(left, 1.5))).rel)
            except (TimeoutError, EndOfStream):
                break
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)
    return got


@pytest.mark.parametrize("policy", ["inside", "never", "follow"])
async def test_symlinks_follow_one_policy_on_rescans(tmp_path: Path, policy: SymlinkPolicy) -> None:
    assert await watched(tree(tmp_path), policy, links_after_start=False) == EXPECTED[policy]


@pytest.mark.parametrize("policy", ["inside", "never"])
async def test_symlinks_follow_the_same_policy_on_file_events(tmp_path: Path, policy: SymlinkPolicy) -> None:
    """File events used to follow a link out of the tree where rescans did not."""
    assert await watched(tree(tmp_path), policy, links_after_start=True) == EXPECTED[policy]
