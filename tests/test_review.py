"""The review site: built from a real split, opened from disk in headless Chromium, served read-only.

One split (conftest `review_split`: a video with known cuts and a failed one) and one site are
shared by every test here. The browser tests skip, saying why, where Chromium is not installed.
Set STREAMCLIP_SCREENSHOTS=DIR to keep the screenshots the browser tests take.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from browser import Browser, chromium_or_skip
from conftest import ReviewSplit
from raw_http import raw_get

from streamclip.cli import main
from streamclip.ingest.metrics import Metrics, MetricsServer
from streamclip.review import LiveReport, build_report, resolve_request
from streamclip.review.index import SHARDS, shard_names, shard_of
from streamclip.review.model import slug_of
from streamclip.review.serving import byte_range
from streamclip.review.site import SiteCache

VIDEO_DURATION_JS = """new Promise((resolve) => {
  const video = document.querySelector('article.card video');
  const done = () => resolve(video.error ? 'error: ' + video.error.message : video.duration);
  if (video.readyState >= 1) { done(); return; }
  video.addEventListener('loadedmetadata', done);
  video.addEventListener('error', done);
  video.load();
})"""


@pytest.fixture(scope="module")
def site(review_split: ReviewSplit) -> Path:
    result = asyncio.run(build_report(review_split.output))
    assert sorted(result.rebuilt) == ["broken.mp4", "scenes.mp4"]
    return result.root


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_or_skip()


def _screenshot(browser: Browser, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("STREAMCLIP_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return browser.screenshot(folder / name)


def _clips_of(out: Path, source: Path) -> set[str]:
    metas = (json.loads(p.read_text()) for p in (out / "metas" / "v0").glob("*.json"))
    return {m["span_uuid"] for m in metas if m["source_video"] == str(source) and "errors" not in m}


# ---------------------------------------------------------------------------------------------
# From disk, in a real browser


def test_index_lists_every_video_with_the_failure_reason(site: Path, chromium: str, tmp_path: Path) -> None:
    with Browser(chromium) as browser:
        browser.open((site / "index.html").as_uri())
        rows = browser.evaluate(
            "Array.from(document.querySelectorAll('tr.video')).map(r => Array.from(r.cells).map(c => c.innerText))"
        )
        _screenshot(browser, "index.png", tmp_path)
        # Sorting and filtering run without errors and do what they say.
        browser.evaluate("document.querySelectorAll('th[data-sort]')[3].click()")
        by_clips = browser.evaluate("Array.from(document.querySelectorAll('tr.video td a')).map(a => a.textContent)")
        browser.evaluate(
            "(() => { const s = document.getElementById('status-filter'); s.value = 'failed';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        visible = browser.evaluate("Array.from(document.querySelectorAll('tr.video:not([hidden]) a')).map(a => a.text)")
        assert browser.problems == []
    by_name = {row[0]: row for row in rows}
    assert sorted(by_name) == ["broken.mp4", "scenes.mp4"]
    assert by_name["broken.mp4"][1] == "failed"
    assert "not a video file" in by_name["broken.mp4"][6]
    assert by_name["scenes.mp4"][1] == "done"
    assert by_name["scenes.mp4"][3] == "3"  # clips
    assert by_clips == ["broken.mp4", "scenes.mp4"]  # ascending clip count
    assert visible == ["broken.mp4"]


def test_video_page_draws_the_chart_and_plays_every_clip_in_place(
    site: Path, review_split: ReviewSplit, chromium: str, tmp_path: Path
) -> None:
    page = site / "videos" / f"{slug_of('scenes.mp4')}.html"
    with Browser(chromium) as browser:
        browser.open(page.as_uri())
        cards = browser.evaluate("Array.from(document.querySelectorAll('article.card')).map(c => c.dataset.uuid)")
        chart = browser.evaluate(
            "(() => { const svg = document.getElementById('chart'); const box = svg.getBoundingClientRect();"
            " const curve = svg.querySelector('polyline.curve');"
            " return {width: box.width, height: box.height, points: curve.points.numberOfItems,"
            " curveWidth: curve.getBBox().width, cuts: svg.querySelectorAll('line.cut').length,"
            " threshold: svg.querySelectorAll('line.threshold').length,"
            " bands: Array.from(svg.querySelectorAll('rect.band')).map(r => r.classList[1])}; })()"
        )
        duration = browser.evaluate(VIDEO_DURATION_JS)
        strip = browser.evaluate("Array.from(document.querySelectorAll('.strip img')).map(i => i.naturalWidth)")
        posters = browser.evaluate("Array.from(document.querySelectorAll('article.card video')).map(v => v.poster)")
        _screenshot(browser, "video.png", tmp_path)
        assert browser.problems == []
    assert sorted(cards) == sorted(_clips_of(review_split.output, review_split.video.path))
    assert chart["width"] > 500
    assert chart["height"] > 100
    assert chart["points"] == review_split.video.num_frames  # one point per frame in a short video
    assert chart["curveWidth"] > 900  # drawn across the whole axis (1000 units)
    assert (chart["cuts"], chart["threshold"]) == (3, 1)
    assert chart["bands"].count("scene") == 4
    assert chart["bands"].count("clip") == 3
    assert {"drop-min_length", "drop-max_length_stride", "drop-crop"} <= set(chart["bands"])
    assert isinstance(duration, (int, float)), duration  # a string says why it did not load
    assert duration > 1.5, duration
    assert len(strip) == 10
    assert all(width > 0 for width in strip)
    assert all(poster.endswith(".jpg") for poster in posters)
    assert len(posters) == 3


def test_failed_video_page_shows_the_reason(site: Path, chromium: str) -> None:
    with Browser(chromium) as browser:
        browser.open((site / "videos" / f"{slug_of('broken.mp4')}.html").as_uri())
        text = browser.evaluate("document.body.innerText")
        assert browser.problems == []
    assert "not a video file" in text
    assert "No clip" in text


# ---------------------------------------------------------------------------------------------
# Made once, remade only when its inputs change


def test_a_second_run_only_redoes_the_videos_that_changed(site: Path, review_split: ReviewSplit) -> None:
    out = review_split.output
    posters = {p: p.stat().st_mtime_ns for p in (site / "media").rglob("*.jpg")}
    assert len(posters) == 3 + 10  # three posters, one strip (the failed file has none)
    again = asyncio.run(build_report(out))
    assert again.rebuilt == []
    record = out / "decisions" / "scenes.mp4.json"
    record.write_bytes(record.read_bytes())  # same content, new mtime: its page is redone
    steps: list[str] = []
    third = asyncio.run(build_report(out, on_start=lambda n: steps.append(f"start {n}"), on_step=steps.append))
    assert third.rebuilt == ["scenes.mp4"]
    assert steps == ["start 1", "scenes.mp4"]
    assert {p: p.stat().st_mtime_ns for p in (site / "media").rglob("*.jpg")} == posters  # no JPEG made again


def test_report_command(
    site: Path, review_split: ReviewSplit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(review_split.output), "--no-progress"]) == 0
    assert "review site of 2 video(s)" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "not a streamclip output folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Served read-only on the metrics address


ESCAPES = [
    "/../../etc/passwd",
    "/..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/videos/../../processed_videos/scenes.mp4.json",
    "/clips/../decisions/scenes.mp4.json",
    "/clips/..%2fdecisions%2fscenes.mp4.json",
    "/..\\..\\etc\\passwd",
    "/%00index.html",
    "/%ff%fe",
    "/.state.json",
    "/media/../../decisions/scenes.mp4.probs.npy",
    "/processed_videos/scenes.mp4.json",
    "//etc/passwd",
    "/outside.html",  # a link inside the site pointing out of it
]


async def test_served_site_answers_the_index_and_clips_and_nothing_else(
    site: Path, review_split: ReviewSplit, chromium: str
) -> None:
    out = review_split.output
    (out / "outside.html").write_text("secret")
    (site / "outside.html").unlink(missing_ok=True)
    (site / "outside.html").symlink_to(out / "outside.html")
    server = MetricsServer(Metrics(), "127.0.0.1", 0, lambda: "", lambda path: resolve_request(out, path), byte_range)
    await server.start()
    try:
        status, headers, body = await asyncio.to_thread(raw_get, server.port, "/")
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        for rel in ("scenes.mp4", "broken.mp4"):
            status, headers, body = await asyncio.to_thread(
                raw_get, server.port, f"/index/{shard_of(slug_of(rel)):02d}.js"
            )
            assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
            assert rel.encode() in body
        clip = next((out / "clips").glob("*.mp4"))
        status, headers, body = await asyncio.to_thread(raw_get, server.port, f"/clips/{clip.name}")
        assert (status, headers["Content-Type"], body) == (200, "video/mp4", clip.read_bytes())
        data = clip.read_bytes()
        status, headers, body = await asyncio.to_thread(
            raw_get, server.port, f"/clips/{clip.name}", "Range: bytes=10-19\r\n"
        )
        assert (status, headers["Content-Range"], body) == (206, f"bytes 10-19/{len(data)}", data[10:20])
        status, _, body = await asyncio.to_thread(raw_get, server.port, f"/clips/{clip.name}", "Range: bytes=-5\r\n")
        assert (status, body) == (206, data[-5:])
        status, _, body = await asyncio.to_thread(raw_get, server.port, f"/clips/{clip.name}", "Range: bytes=9-2\r\n")
        assert (status, body) == (200, data)  # a range it cannot satisfy: the whole file
        page = f"/videos/{slug_of('scenes.mp4')}.html"
        assert (await asyncio.to_thread(raw_get, server.port, page))[0] == 200
        assert (await asyncio.to_thread(raw_get, server.port, "/metrics"))[0] == 200
        for target in ESCAPES:
            status, _, body = await asyncio.to_thread(raw_get, server.port, target)
            assert status == 404, target
            assert b"secret" not in body
            assert b"root:" not in body
        # The served page works in a browser as the file does: the clip plays from the server.
        seen = await asyncio.to_thread(_in_browser, chromium, f"http://127.0.0.1:{server.port}{page}")
        assert seen["problems"] == []
        assert seen["cards"] == 3
        assert isinstance(seen["duration"], (int, float)), seen
        assert seen["duration"] > 1.5
    finally:
        await server.close()
        (site / "outside.html").unlink()


def _in_browser(chromium: str, url: str) -> dict[str, object]:
    with Browser(chromium) as browser:
        browser.open(url)
        cards = browser.evaluate("document.querySelectorAll('article.card').length")
        duration = browser.evaluate(VIDEO_DURATION_JS)
        return {"cards": cards, "duration": duration, "problems": browser.problems}


def test_request_paths_map_only_into_the_site_and_the_clips(site: Path, review_split: ReviewSplit) -> None:
    out = review_split.output
    assert resolve_request(out, "/") == (site / "index.html", "text/html; charset=utf-8")
    assert resolve_request(out, "/assets/report.js") is not None
    assert resolve_request(out, "/index.html?x=1") == resolve_request(out, "/")
    for target in ESCAPES:
        assert resolve_request(out, target) is None, target


# ---------------------------------------------------------------------------------------------
# Live: what the daemon does as videos start, clips arrive and videos finish


async def test_live_site_shows_a_video_in_flight_and_refreshes_until_it_is_done(
    review_split: ReviewSplit, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(review_split.output, out, ignore=shutil.ignore_patterns("report"))
    live = LiveReport(out, debounce_s=0.01)
    source, rel = "/elsewhere/new.mp4", "incoming/new.mp4"
    live.started(source, rel)
    await live.build(None)
    index = (out / "report" / "index.html").read_text()
    page = out / "report" / "videos" / f"{slug_of(rel)}.html"
    assert 'http-equiv="refresh"' in index
    assert '"in progress"' in _index_rows(out / "report")
    assert "No clip yet" in page.read_text()
    written = json.loads((out / "decisions" / "scenes.mp4.json").read_text())["clips"][0]["uuid"]
    live.clip(source, written)
    runner = asyncio.create_task(live.run())
    try:
        await eventually(lambda: written in page.read_text())
        assert f'id="clip-0" data-uuid="{written}"' in page.read_text()
        live.finished(source, rel)  # it has no record in processed_videos/ (not a real video)
        index_file = out / "report" / "index.html"
        # the index is rewritten, then the page removed: wait for both
        await eventually(lambda: "incoming/new.mp4" not in _index_rows(out / "report") and not page.exists())
    finally:
        runner.cancel()
        await asyncio.wait([runner])
    index = index_file.read_text()
    assert 'http-equiv="refresh"' not in index
    assert "incoming/new.mp4" not in _index_rows(out / "report")
    assert not page.exists()  # no record: its page went with it


async def eventually(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Wait until `check()` holds: `timeout_s` is a bound for a stuck build, not a speed expected."""
    async with asyncio.timeout(timeout_s):
        for _ in itertools.count():
            if check():
                return
            await asyncio.sleep(0.02)


def test_watch_with_report_keeps_the_site_current_and_serves_it(tmp_path: Path) -> None:
    """A real `watch --report` process: the index at / lists the finished video and the bad file."""
    import media
    from processes import running, wait_until

    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    media.make_cut_video(inbox / "good.mp4", scenes=[("testsrc2", 2.0)])
    media.make_text(inbox / "bad.mp4")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fixed = ['spans.mode="fixed_stride"', "spans.clip_len_s=1.0", "spans.clip_stride_s=1.0"]
    fixed += ["spans.min_clip_length_s=0.5", "frames.enabled=false"]
    args = ["watch", str(inbox), "-o", str(out), "--report", "--settle-s", "0.3", "--no-progress"]
    args += ["--metrics-address", f"127.0.0.1:{port}", *(f"--set={s}" for s in fixed)]

    def settled() -> str:
        """The site once it has caught up: both files listed, neither in progress, the page no longer refreshing.
        A build writes its shards before its page, so a page read beside the rows may be a build behind them."""
        try:
            status, _, body = raw_get(port, "/")
            rows = "".join(raw_get(port, f"/{name}")[2].decode() for name in shard_names())
        except OSError:
            return ""
        page = body.decode()
        listed = status == 200 and "good.mp4" in rows and "bad.mp4" in rows and '"in progress"' not in rows
        return page + rows if listed and 'http-equiv="refresh"' not in page else ""

    with running(args, tmp_path, tmp_path / "watch.log") as watch:
        text = wait_until(settled, "the index listing both files, done, and no longer refreshing", watch)
        clip = next((out / "clips").glob("*.mp4"))
        assert raw_get(port, f"/clips/{clip.name}")[0] == 200
        assert raw_get(port, "/../../etc/passwd")[0] == 404
        assert raw_get(port, "/healthz")[0] == 200
        status, _ = watch.stop()
    assert status == 0, watch.stderr
    assert 'http-equiv="refresh"' not in text
    assert "quarantined" in text
    assert "not a video file" in text
    assert "review site on http://127.0.0.1:" in watch.stderr


def test_clients_that_never_read_a_clip_pin_no_memory_in_the_daemon(tmp_path: Path) -> None:
    """Ten clients ask a `watch --report` daemon for a 60 MB clip, read its first bytes and stop
    reading: the daemon's memory stays where it was (it sent the clip from the disk, in pieces)."""
    import psutil
    from processes import running, wait_until

    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    (out / "clips").mkdir(parents=True)
    clip = out / "clips" / "0b5e7c52-1d6f-5a52-9c3e-3f1a3c6b8e01.mp4"
    clip.write_bytes(os.urandom(60 << 20))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fixed = ['spans.mode="fixed_stride"', "frames.enabled=false"]
    args = ["watch", str(inbox), "-o", str(out), "--report", "--settle-s", "0.3", "--no-progress"]
    args += ["--metrics-address", f"127.0.0.1:{port}", *(f"--set={s}" for s in fixed)]

    def healthy() -> bool:
        try:
            return raw_get(port, "/healthz")[0] == 200 and raw_get(port, "/")[0] == 200
        except OSError:
            return False

    clients: list[socket.socket] = []
    with running(args, tmp_path, tmp_path / "watch.log") as watch:
        wait_until(healthy, "the daemon serving its site", watch)
        daemon = psutil.Process(watch.proc.pid)
        before = daemon.memory_info().rss
        try:
            for _ in range(10):
                conn = socket.socket()
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                conn.settimeout(30)
                conn.connect(("127.0.0.1", port))
                conn.sendall(f"GET /clips/{clip.name} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                assert conn.recv(64).startswith(b"HTTP/1.0 200")  # the daemon has begun to answer
                clients.append(conn)
            during = daemon.memory_info().rss
            assert raw_get(port, "/healthz")[0] == 200  # and it goes on answering others
        finally:
            for conn in clients:
                conn.close()
        status, _ = watch.stop()
    assert status == 0, watch.stderr
    assert during - before < 64 << 20, f"{before >> 20} MiB before, {during >> 20} MiB with ten stalled clients"


async def test_a_live_rebuild_reads_and_writes_only_the_videos_that_changed(
    review_split: ReviewSplit, tmp_path: Path
) -> None:
    """As the daemon rebuilds (`only` = what it changed): the other videos are not read, not even
    stat'ed, and only the index shard of the changed video is written again."""
    out = tmp_path / "out"
    shutil.copytree(review_split.output, out, ignore=shutil.ignore_patterns("report"))
    cache = SiteCache()
    await build_report(out, cache=cache, live=True)
    first = cache.entries["scenes.mp4"][1]
    assert first.probabilities is None  # the cache holds no curve
    shards = {p.name: p.stat().st_mtime_ns for p in (out / "report" / "index").glob("*.js")}
    assert len(shards) == SHARDS
    record = out / "decisions" / "scenes.mp4.json"
    record.write_bytes(record.read_bytes())  # changed on disk, but not named by the daemon
    result = await build_report(out, only={"broken.mp4"}, cache=cache, live=True)
    assert cache.entries["scenes.mp4"][1] is first  # not read again
    assert result.rebuilt == []  # nothing it names changed
    assert {p.name: p.stat().st_mtime_ns for p in (out / "report" / "index").glob("*.js")} == shards
    result = await build_report(out, only={"scenes.mp4"}, cache=cache, live=True)
    assert cache.entries["scenes.mp4"][1] is not first
    assert result.rebuilt == ["scenes.mp4"]
    (out / "processed_videos" / "broken.mp4.json").unlink()  # its record gone: off the index
    await build_report(out, only={"broken.mp4"}, cache=cache, live=True)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "report" / "index").glob("*.js")}
    changed = [name for name in shards if after[name] != shards[name]]
    assert changed == [f"{shard_of(slug_of('broken.mp4')):02d}.js"]
    assert not (out / "report" / "videos" / f"{slug_of('broken.mp4')}.html").exists()
    assert "broken.mp4" not in _index_rows(out / "report")


def _index_rows(root: Path) -> str:
    """The rows of the index as its scripts hold them (the page draws them)."""
    return "".join(p.read_text() for p in sorted((root / "index").glob("*.js")))


def test_the_index_shows_a_page_of_rows_at_a_time_and_filters_all_of_them(chromium: str, tmp_path: Path) -> None:
    """450 videos: the first page draws 200 rows; the filter finds a video on the third page; the
    next button reaches it; the totals count every video."""
    out = tmp_path / "out"
    for i in range(450):
        _failed_output(out, f"v{i:03d}.mp4", exist_ok=True)
    asyncio.run(build_report(out))
    with Browser(chromium) as browser:
        browser.open((out / "report" / "index.html").as_uri())
        first = browser.evaluate("Array.from(document.querySelectorAll('tr.video td a')).map(a => a.textContent)")
        shown = browser.evaluate("document.getElementById('shown').textContent")
        total = browser.evaluate("document.querySelector('[data-total=videos]').textContent")
        failed = browser.evaluate("document.querySelector('[data-total=failed]').textContent")
        browser.evaluate("document.getElementById('next').click(); document.getElementById('next').click()")
        third = browser.evaluate("Array.from(document.querySelectorAll('tr.video td a')).map(a => a.textContent)")
        browser.evaluate(
            "(() => { const f = document.getElementById('filter'); f.value = 'v444';"
            " f.dispatchEvent(new Event('input')); })()"
        )
        found = browser.evaluate("Array.from(document.querySelectorAll('tr.video td a')).map(a => a.href)")
        assert browser.problems == []
    assert first == [f"v{i:03d}.mp4" for i in range(200)]
    assert shown == "450 of 450 shown"
    assert (total, failed) == ("450", "450")
    assert third == [f"v{i:03d}.mp4" for i in range(400, 450)]
    assert len(found) == 1
    assert found[0].endswith(f"videos/{slug_of('v444.mp4')}.html")


async def test_names_and_reasons_are_escaped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rel = "a<b>\"&'.mp4"
    record = {"video": f"/in/{rel}", "metadata": None, "errors": {"video": "<script>alert(1)</script>"},
              "status": "failed", "timings_s": {}}  # fmt: skip
    (out / "processed_videos").mkdir(parents=True)
    (out / "processed_videos" / f"{rel}.json").write_text(json.dumps(record))
    result = await build_report(out)
    rows = _index_rows(result.root)  # JSON in scripts, drawn as text by the page
    page = (result.root / "videos" / f"{slug_of(rel)}.html").read_text()
    for text in (rows, page):
        assert "<script>alert" not in text
        assert "a<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in rows
    assert "a\\u003cb\\u003e\\\"\\u0026'.mp4" in rows


def _failed_output(out: Path, rel: str = "bad.mp4", *, exist_ok: bool = False) -> None:
    """An output folder with one failed video's record: enough for a site, no split needed."""
    record = {"video": f"/in/{rel}", "metadata": None, "errors": {"video": "not a video"}, "status": "failed",
              "timings_s": {}}  # fmt: skip
    (out / "processed_videos").mkdir(parents=True, exist_ok=exist_ok)
    (out / "processed_videos" / f"{rel}.json").write_text(json.dumps(record))


def test_report_state_never_removes_anything_outside_the_site(tmp_path: Path) -> None:
    """A `.state.json` naming `../../victim` (or a strip folder linked elsewhere) makes `streamclip
    report OUT` remove nothing outside OUT/report/videos and OUT/report/media."""
    out = tmp_path / "out"
    _failed_output(out)
    victims = [out / "victim", out / "clips", tmp_path / "elsewhere", tmp_path / "linked"]
    for folder in victims:
        folder.mkdir()
        (folder / "keep.txt").write_text("mine")
    (out / "victim.html").write_text("mine")
    report = out / "report"
    (report / "media").mkdir(parents=True)
    (report / "media" / "gone-0123abcd").symlink_to(tmp_path / "linked")
    state = {"../../victim": "x", "../../clips": "x", "../../../elsewhere": "x", "gone-0123abcd": "x"}
    (report / ".state.json").write_text(json.dumps(state))
    cli = [sys.executable, "-m", "streamclip", "report", str(out), "--no-progress"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "review site of 1 video(s)" in done.stderr
    for folder in victims:
        assert (folder / "keep.txt").read_text() == "mine", folder
    assert (out / "victim.html").read_text() == "mine"
    assert not (report / "media" / "gone-0123abcd").exists()  # the link itself is the site's: removed
    assert json.loads((report / ".state.json").read_text()).keys() == {slug_of("bad.mp4")}
