"""What a file in a watched or given folder may make streamclip read: only itself (no playlist
followed to other files), and symlinks by one policy on file events and rescans alike."""

from __future__ import annotations

import asyncio
import os
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
