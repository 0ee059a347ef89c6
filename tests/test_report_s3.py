"""`streamclip report s3://bucket/prefix`, against a real SeaweedFS on 127.0.0.1 (tests/s3server.py).

What users rely on: the review site of an S3 output lands under `prefix/report/` with the layout of
OUT/report/ (index, one page per video with a card per clip, real JPEG posters and strip, relative
links to the clip objects); it shows the spans the same video gives in a local split; no secret is in
a page or in the command's output; a second run over an unchanged output makes no page again.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import media
import pytest
import s3server
import test_object_storage as storage_tests
from test_object_storage import FPS, SCENES, bucket, check_no_secret, objects, split_cli

from streamclip.ingest.config import ServeConfig

obstore = pytest.importorskip("obstore", reason="the [s3] extra (obstore) is not installed")

FRAMES = re.compile(r"frames (\d+)\u2013(\d+)")  # an en dash, as the page writes it

server = storage_tests.server  # the same SeaweedFS fixture (one server for this module)
aws_env = storage_tests.aws_env


def report_cli(target: str, env: dict[str, str], *more: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "streamclip", "report", target, "--no-progress", *more]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def page_spans(html: str) -> list[tuple[int, int]]:
    return sorted((int(a), int(b)) for a, b in FRAMES.findall(html))


def test_report_of_an_s3_output_is_written_under_report_and_matches_the_local_one(
    server: s3server.S3Server, aws_env: dict[str, str], tmp_path: Path
) -> None:
    video = media.make_cut_video(tmp_path / "v.mp4", scenes=SCENES, fps=FPS).path
    split = split_cli([str(video), "-o", "s3://out/site"], aws_env)
    assert split.returncode == 0, split.stderr

    first = report_cli("s3://out/site", aws_env)
    assert first.returncode == 0, first.stderr
    assert "review site of 1 video(s) in s3://out/site/report/index.html (1 page(s) made" in first.stderr
    check_no_secret(first.stdout, first.stderr)

    store = bucket(server, "out")
    site = objects(server, "out", "site/report")
    clips = list(objects(server, "out", "site/clips"))
    pages = [name for name in site if name.startswith("videos/") and name.endswith(".html")]
    assert {"index.html", "assets/report.css", "assets/report.js"} <= site.keys()
    assert ".state.json" not in site  # the state is rebuilt from the pages: never read from a bucket
    assert len(pages) == 1
    assert len(clips) >= 2
    html = bytes(obstore.get(store, f"site/report/{pages[0]}").bytes()).decode()
    assert html.count('class="card"') == len(clips)  # one card per clip object, none marked missing
    for name in clips:
        assert f'src="../../clips/{name}"' in html  # relative: served from the bucket or downloaded
    posters = [n for n in site if n.startswith("media/posters/")]
    strip = [n for n in site if re.fullmatch(r"media/[^/]+/strip-\d\d\.jpg", n)]
    assert len(posters) == len(clips)
    assert len(strip) == 10
    for name in posters + strip:
        data = bytes(obstore.get(store, f"site/report/{name}").bytes())
        assert data[:3] == b"\xff\xd8\xff"
        assert len(data) > 500
    got = obstore.get(store, f"site/report/{pages[0]}")
    assert got.attributes["Content-Type"] == "text/html; charset=utf-8"  # a browser renders it from the bucket
    head = obstore.head(store, f"site/report/{pages[0]}")
    assert head["size"] == len(html.encode())
    for name in site:
        if name.endswith((".html", ".json", ".js", ".css")):
            check_no_secret(bytes(obstore.get(store, f"site/report/{name}").bytes()).decode())

    again = report_cli("s3://out/site", aws_env)
    assert again.returncode == 0, again.stderr
    assert "(0 page(s) made, 1 unchanged" in again.stderr
    assert obstore.head(store, f"site/report/{pages[0]}")["e_tag"] == head["e_tag"]

    local = tmp_path / "local"
    assert split_cli([str(video), "-o", str(local)], aws_env).returncode == 0
    assert report_cli(str(local), aws_env).returncode == 0
    local_page = (local / "report" / pages[0]).read_text()
    assert page_spans(local_page) == page_spans(html)
    assert len(page_spans(html)) == len(clips)


def test_an_s3_source_gets_its_strip_and_a_kept_cache_downloads_no_clip(
    server: s3server.S3Server, aws_env: dict[str, str], tmp_path: Path
) -> None:
    video = media.make_cut_video(tmp_path / "w.mp4", scenes=SCENES[:2], fps=FPS).path
    obstore.put(bucket(server, "media"), "forreport/w.mp4", video)
    assert split_cli(["s3://media/forreport/", "-o", "s3://out/kept"], aws_env).returncode == 0
    cache = tmp_path / "cache"
    first = report_cli("s3://out/kept/", aws_env, "--cache", str(cache))
    assert first.returncode == 0, first.stderr
    assert "1 page(s) made" in first.stderr
    assert (cache / "report" / "index.html").is_file()
    markers = list((cache / "clips").glob("*.mp4"))
    assert markers
    assert all(m.stat().st_size < 100 for m in markers)  # the clips are never downloaded
    strip = list((cache / "report" / "media").glob("*/strip-*.jpg"))  # read from the source object
    assert len(strip) == 10
    assert all(f.read_bytes()[:3] == b"\xff\xd8\xff" for f in strip)
    again = report_cli("s3://out/kept", aws_env, "--cache", str(cache))
    assert "(0 page(s) made, 1 unchanged, 1 file(s) uploaded)" in again.stderr  # the index (its time)

    missing = report_cli("s3://out/nothing-here", aws_env)
    assert missing.returncode == 2
    assert "not a streamclip output" in missing.stderr
    refused = report_cli(str(tmp_path), aws_env, "--cache", str(cache))
    assert refused.returncode == 2
    assert "--cache is for an s3:// output" in refused.stderr


def test_a_state_file_in_the_bucket_removes_nothing_on_this_machine(
    server: s3server.S3Server, aws_env: dict[str, str], tmp_path: Path
) -> None:
    """Whoever can write to the bucket cannot make `report s3://` remove folders here: a
    `report/.state.json` naming `../../victim` is never read (the state comes from the pages)."""
    store = bucket(server, "out")
    record = {"video": "s3://media/bad.mp4", "metadata": None, "errors": {"video": "not a video"},
              "status": "failed", "timings_s": {}}  # fmt: skip
    obstore.put(store, "hostile/processed_videos/bad.mp4.json", json.dumps(record).encode())
    state = {"../../victim": "x", "../../../elsewhere": "x"}
    obstore.put(store, "hostile/report/.state.json", json.dumps(state).encode())
    obstore.put(store, "hostile/report/media/posters/old.jpg", b"\xff\xd8\xff")  # a site has media/
    cache = tmp_path / "cache"
    victims = [cache / "victim", tmp_path / "elsewhere"]
    for folder in victims:
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("mine")
    (cache / "victim.html").write_text("mine")
    done = report_cli("s3://out/hostile", aws_env, "--cache", str(cache))
    assert done.returncode == 0, done.stderr
    assert "review site of 1 video(s)" in done.stderr
    for folder in victims:
        assert (folder / "keep.txt").read_text() == "mine", folder
    assert (cache / "victim.html").read_text() == "mine"
    again = report_cli("s3://out/hostile", aws_env)  # a fresh cache: the pages in the bucket vouch
    assert "(0 page(s) made, 1 unchanged" in again.stderr


def test_serve_with_report_and_an_s3_output_points_to_the_report_command() -> None:
    with pytest.raises(ValueError, match=r"streamclip report s3://\.\.\.` writes the site into the bucket"):
        ServeConfig(watch=["s3://media/in/"], output="s3://out/clips", ledger="/var/lib/x.sqlite", report=True)
