"""`streamclip watch`, `serve` and `status` as real processes on real files (loopback only).

Fixed-stride 1 s clips (no model) keep these fast; every spawned process is killed in `finally`.
The ledger is read with plain sqlite3, as an operator would.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import media
import psutil
import pytest
from processes import ffmpeg_children_mentioning, ledger_rows, leftovers, running, states, undeletable, wait_until
from prometheus_client.parser import text_string_to_metric_families

from streamclip.config import load_config
from streamclip.contract.rules import clip_uuid, fixed_stride_spans, seconds_to_frame
from streamclip.ffmpeg.probe import probe_sync
from streamclip.ingest.config import settings_hash
from streamclip.ingest.fingerprint import fingerprint
from streamclip.ingest.ledger import Ledger

FIXED_1S = [
    'spans.mode="fixed_stride"',
    "spans.clip_len_s=1.0",
    "spans.clip_stride_s=1.0",
    "spans.min_clip_length_s=0.5",
    "frames.enabled=false",
]


# ---------------------------------------------------------------------------------------------
# Helpers


def count_in_state(out: Path, state: str) -> int:
    return sum(1 for s in states(out).values() if s == state)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of /metrics by (name, labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(port: int, name: str, **labels: str) -> float:
    """One sample of /metrics (0 while the daemon is not listening yet)."""
    try:
        return scrape(port).get((name, tuple(sorted(labels.items()))), 0.0)
    except OSError:
        return 0.0


def write_config(folder: Path, **settings: Any) -> Path:
    """A serve TOML file from keyword settings (TOML and JSON agree on these values)."""
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path = folder / "serve.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def expected_clips(source: Path) -> set[str]:
    """The uuids of the fixed-stride 1 s clips of `source`, as the rules define them."""
    meta = probe_sync(source)
    spans = fixed_stride_spans(meta.duration_s, meta.fps, clip_len_s=1.0, clip_stride_s=1.0, min_clip_length_s=0.5)
    return {
        str(clip_uuid(str(source), seconds_to_frame(start, meta.fps), seconds_to_frame(end, meta.fps)))
        for start, end in spans
    }


def check_clips(out: Path) -> set[str]:
    """Every clip has its meta and is complete; returns the clip uuids."""
    clips = {p.stem for p in (out / "clips").glob("*.mp4")}
    for stem in clips:
        meta = json.loads((out / "metas" / "v0" / f"{stem}.json").read_text())
        assert meta["span_uuid"] == stem
        assert "errors" not in meta
        assert b"moov" in (out / "clips" / f"{stem}.mp4").read_bytes(), f"{stem} is incomplete"
    return clips


def copy_slowly(
    src: Path, dst: Path, *, chunks: int, pause_s: float, long_pause_at: int = -1, long_pause_s: float = 0
) -> None:
    data = src.read_bytes()
    size = len(data) // chunks + 1
    with open(dst, "wb") as handle:
        for k in range(chunks):
            handle.write(data[k * size : (k + 1) * size])
            handle.flush()
            time.sleep(long_pause_s if k == long_pause_at else pause_s)


TAG = b"streamclip-variant-000"


def make_tagged(path: Path, scenes: list[tuple[str, float]], *extra: str) -> Path:
    """A cut video carrying TAG in its metadata, so that `variants` can make distinct copies."""
    return media.make_cut_video(
        path, scenes=scenes, extra_out_args=[*extra, "-metadata", f"comment={TAG.decode()}"]
    ).path


def variants(seed: Path, folder: Path, count: int, prefix: str) -> list[Path]:
    """Copies of `seed` with a different tag each: the same picture, other bytes (other sources)."""
    data = seed.read_bytes()
    assert data.count(TAG) == 1
    made = []
    for n in range(1, count + 1):
        made.append(folder / f"{prefix}{n:02}.mp4")
        made[-1].write_bytes(data.replace(TAG, f"streamclip-variant-{n:03}".encode()))
    return made


@pytest.fixture(scope="module")
def clips_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """small.mp4 and small_01/02.mp4 (3 s, moov at the end), small_faststart.mp4 (moov first),
    long.mp4 (12 s): fixed-stride 1 s clips, 3 and 12 of them."""
    folder = tmp_path_factory.mktemp("ingest_media")
    scenes = [("testsrc2", 1.5), ("smptebars", 1.5)]
    make_tagged(folder / "small.mp4", scenes)
    variants(folder / "small.mp4", folder, 2, "small_")
    make_tagged(folder / "small_faststart.mp4", scenes, "-movflags", "+faststart")
    media.make_cut_video(folder / "long.mp4", scenes=[("testsrc2", 6.0), ("mandelbrot", 6.0)])
    return folder


# ---------------------------------------------------------------------------------------------
# watch


def test_watch_takes_files_only_once_complete(clips_media: Path, tmp_path: Path) -> None:
    """Slow copies (pauses shorter than the settle time; a long pause in a moov-at-end MP4; a
    `.part` download renamed at the end) are each processed once, complete; files there at start
    are processed too; hidden, partial and non-video names are ignored; a copy of a file already
    done is recorded as its duplicate, not processed again."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "sub").mkdir(parents=True)
    (inbox / ".cache").mkdir()
    small = clips_media / "small.mp4"
    (inbox / "there_before.mp4").write_bytes(small.read_bytes())
    for ignored in (".hidden.mp4", ".cache/c.mp4", "notes.txt", "x.mp4~", "y.mp4.tmp"):
        (inbox / ignored).write_bytes(small.read_bytes())
    args = ["watch", "in", "-o", "out", "--settle-s", "1.0", "--rescan-s", "30", *(f"--set={s}" for s in FIXED_1S)]
    with running(args, tmp_path, tmp_path / "watch.log") as watch:
        wait_until(lambda: "watching" in watch.stderr, "the watcher to start", watch)
        with ThreadPoolExecutor() as copies:  # at the same time
            slow = [
                copies.submit(copy_slowly, clips_media / "small_faststart.mp4", inbox / "sub" / "slow_faststart.mp4",
                              chunks=8, pause_s=0.4),
                copies.submit(copy_slowly, clips_media / "small_01.mp4", inbox / "slow_moov_last.mp4",
                              chunks=4, pause_s=0.2, long_pause_at=1, long_pause_s=2.0),
                copies.submit(copy_slowly, clips_media / "small_02.mp4", inbox / "download.mp4.part",
                              chunks=4, pause_s=0.2),
            ]  # fmt: skip
            for copy in slow:
                copy.result()
        (inbox / "download.mp4.part").rename(inbox / "download.mp4")
        wait_until(lambda: count_in_state(out, "done") == 4, "four sources done", watch, timeout_s=40)
        (inbox / "copy.mp4").write_bytes(small.read_bytes())
        wait_until(lambda: count_in_state(out, "done") == 5, "the copy recorded", watch, timeout_s=20)
        time.sleep(1.5)  # more than a settle time: nothing else may be picked up
        status, _ = watch.stop()
    log = watch.stderr
    assert status == 0, log
    rows = {Path(path).relative_to(inbox).as_posix(): row for path, row in ledger_rows(out).items()}
    copy = rows.pop("copy.mp4")
    assert (copy["state"], copy["clips"], copy["attempts"]) == ("done", 0, 0)
    assert copy["note"] == f"duplicate of {inbox / 'there_before.mp4'}"
    assert set(rows) == {"there_before.mp4", "sub/slow_faststart.mp4", "slow_moov_last.mp4", "download.mp4"}
    for rel, row in rows.items():
        assert row["state"] == "done", row
        assert row["size"] == (inbox / rel).stat().st_size, row  # taken complete, never before
        assert (row["attempts"], row["clips"]) == (1, 3), row
        assert log.count(f"done {rel}: 3 clip(s)") == 1, log
    assert len(check_clips(out)) == 12
    record = json.loads((out / "processed_videos" / "sub" / "slow_faststart.mp4.json").read_text())
    assert record["metadata"]["size"] == (inbox / "sub" / "slow_faststart.mp4").stat().st_size
    assert record["status"] == "done"
    assert leftovers(out) == []

    shown = subprocess.run(
        [sys.executable, "-m", "streamclip", "status", "-o", "out"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "done                5       12" in shown.stdout
    assert "failed or quarantined" not in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["watch", "missing", "-o", "out"], "watch: folder not found"),
        (["watch", "in", "-o", "out", "--settle-s", "0"], "settle_s"),
        (["watch", "in", "-o", "out", "--set", "spans.nope=1"], "unknown key spans.nope"),
        (["watch", "out/in", "-o", "out"], "inside the output folder"),
        (["serve", "--config", "missing.toml"], "config file not found"),
        (["status"], "status needs --config FILE"),
    ],
)
def test_configuration_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out" / "in").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "STREAMCLIP_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "streamclip", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "configuration error" in done.stderr
    assert message in done.stderr


def watch_cli(args: list[str], cwd: Path, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    """A `streamclip watch` that is expected to refuse at once; one that runs instead fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "streamclip", "watch", *args], cwd=cwd, capture_output=True, text=True,
            timeout=timeout_s, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`watch {shlex.join(args)}` ran instead of refusing:\n{exc.stderr!r}")


def done_rows(ledger: Path) -> list[str]:
    with Ledger(ledger, create=False) as reader:
        return [row.path for row in reader.records("done")]


def test_a_second_daemon_on_the_same_ledger_refuses_with_one_line(clips_media: Path, tmp_path: Path) -> None:
    """Two daemons never share a ledger: while one runs, a second `watch` given the same --ledger (for
    another output, or the same) refuses with one line; once it stopped, the ledger still belongs to
    its output, and a `watch` for another output is refused, naming it."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    ledger = tmp_path / "state" / "ledger.sqlite"
    common = ["--ledger", str(ledger), "--settle-s", "0.2", "--no-progress"]
    common += [arg for setting in FIXED_1S for arg in ("--set", setting)]
    shutil.copy(clips_media / "small.mp4", tmp_path / "a" / "small.mp4")
    with running(["watch", "a", "-o", "out_a", *common], tmp_path, tmp_path / "a.log") as first:
        wait_until(lambda: "watching" in first.stderr, "the first daemon", first)
        for output in ("out_b", "out_a"):
            second = watch_cli(["b", "-o", output, *common], tmp_path)
            assert second.returncode != 0
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert "another streamclip daemon" in lines[0]
        assert not (tmp_path / "out_b" / "clips").exists()
        assert first.proc.poll() is None
        wait_until(lambda: len(done_rows(ledger)) == 1, "small.mp4 done", first)
        status, _ = first.stop()
    assert status == 0, first.stderr

    refused = watch_cli(["b", "-o", "out_b", *common], tmp_path)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert str(tmp_path / "out_a") in lines[0]
    assert str(ledger) in lines[0]
    assert not (tmp_path / "out_b" / "clips").exists()


def test_outdated_clips_that_cannot_be_removed_set_their_source_aside_and_intake_goes_on(
    clips_media: Path, tmp_path: Path
) -> None:
    """A source replaced by another content has its outdated clips removed first; when they cannot be
    (here the clips folder refuses), the source is `failed`, its clips stay in the ledger, and the
    daemon goes on with the next file (the error used to end intake, and the daemon with exit 1)."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    source = inbox / "a.mp4"
    shutil.copy(clips_media / "small.mp4", source)
    args = ["watch", str(inbox), "-o", str(out), "--settle-s", "0.2", "--rescan-s", "0.5", "--no-progress"]
    args += [arg for setting in FIXED_1S for arg in ("--set", setting)]
    with running(args, tmp_path, tmp_path / "watch.log") as daemon:
        wait_until(lambda: states(out).get("a.mp4") == "done", "a.mp4 done", daemon)
        before = {p.name for p in (out / "clips").glob("*.mp4")}
        with undeletable(out / "clips"):
            shutil.copy(clips_media / "small_01.mp4", source)  # other bytes: its old clips are outdated
            wait_until(lambda: states(out).get("a.mp4") == "failed", "a.mp4 set aside", daemon)
        row = ledger_rows(out)[str(source)]
        assert "outdated" in row["error"]
        assert row["clips"] == len(before)
        assert {p.name for p in (out / "clips").glob("*.mp4")} == before
        shutil.copy(clips_media / "small_02.mp4", inbox / "b.mp4")
        wait_until(lambda: states(out).get("b.mp4") == "done", "b.mp4 done after it", daemon)
        status, _ = daemon.stop()
    assert status == 0, daemon.stderr


# ---------------------------------------------------------------------------------------------
# serve


def test_serve_quarantines_bad_files_and_finishes_the_good_ones(clips_media: Path, tmp_path: Path) -> None:
    inbox, out, quarantine = tmp_path / "in", tmp_path / "out", tmp_path / "quarantine"
    inbox.mkdir()
    media.make_cut_video(inbox / "a.mp4", scenes=[("testsrc2", 2.0)])
    media.make_cut_video(inbox / "b.mp4", scenes=[("smptebars", 2.0)])
    media.make_text(inbox / "text.mp4")
    media.make_audio_only(inbox / "audio_only.mp4")
    media.make_truncated_moov_at_end(inbox / "half.mp4", clips_media / "small.mp4")
    (inbox / "empty.mp4").write_bytes(b"")
    port = free_port()
    config = write_config(
        tmp_path, watch=["in"], output="out", set=FIXED_1S, settle_s=0.5, incomplete_wait_s=1.0,
        quarantine_dir="quarantine", metrics_address=f"127.0.0.1:{port}",
    )  # fmt: skip
    with running(["serve", "--config", str(config)], tmp_path, tmp_path / "serve.log") as serve:
        wait_until(
            lambda: len([s for s in states(out).values() if s in ("done", "quarantined")]) == 6, "all six", serve
        )
        metrics = scrape(port)
        status, _ = serve.stop()
    assert status == 0, serve.stderr
    assert states(out) == {
        "a.mp4": "done", "b.mp4": "done", "text.mp4": "quarantined", "audio_only.mp4": "quarantined",
        "half.mp4": "quarantined", "empty.mp4": "quarantined",
    }  # fmt: skip
    reasons = {Path(p).name: row["error"] for p, row in ledger_rows(out).items()}
    assert reasons["text.mp4"].startswith("not a video file")
    assert reasons["audio_only.mp4"].startswith("no video stream")
    assert reasons["half.mp4"].startswith("moov atom not found: file incomplete")
    assert reasons["empty.mp4"].startswith("empty file")
    assert sorted(p.name for p in quarantine.iterdir()) == ["audio_only.mp4", "empty.mp4", "half.mp4", "text.mp4"]
    assert sorted(p.name for p in inbox.iterdir()) == ["a.mp4", "b.mp4"]
    assert len(check_clips(out)) == 4

    assert metrics[("streamclip_videos_total", (("outcome", "done"),))] == 2
    assert metrics[("streamclip_videos_total", (("outcome", "quarantined"),))] == 4
    assert metrics[("streamclip_clips_total", ())] == 4
    for reason in ("not_a_video", "no_video_stream", "incomplete", "empty"):
        assert metrics[("streamclip_failures_total", (("reason", reason),))] == 1, reason

    shown = subprocess.run(
        [sys.executable, "-m", "streamclip", "status", "--config", str(config)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "quarantined         4        0" in shown.stdout
    assert f"QUARANTINED {inbox / 'text.mp4'} [not_a_video]: not a video file" in shown.stdout
    assert f"moved to {quarantine / 'text.mp4'}" in shown.stdout

    # A restart skips the finished sources on their size and mtime: no probe, nothing made again.
    with running(["serve", "--config", str(config)], tmp_path, tmp_path / "again.log") as again:
        wait_until(lambda: metric(port, "streamclip_sources_skipped_total", why="done") == 2, "two skips", again)
        metrics = scrape(port)
        status, _ = again.stop()
    assert status == 0, again.stderr
    assert metrics[("streamclip_watch_probes_total", ())] == 0
    assert metrics[("streamclip_clips_total", ())] == 0
    assert metrics[("streamclip_videos_total", (("outcome", "done"),))] == 0


def held_ffmpeg(folder: Path, clips: Path, after: int) -> Path:
    """A stand-in ffmpeg that runs the real one until `after` clips are in `clips`, and from then
    on waits, before starting, on a FIFO that nobody writes: that work stays in flight, however
    fast the machine, until the daemon kills the child."""
    real = os.environ.get("STREAMCLIP_FFMPEG") or shutil.which("ffmpeg") or "ffmpeg"
    gate = folder / "gate.fifo"
    os.mkfifo(gate)
    script = folder / "held" / "ffmpeg"  # named ffmpeg, so ffmpeg_children_mentioning() sees it
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\nn=0\n"
        f'for f in {shlex.quote(str(clips))}/*.mp4; do [ -e "$f" ] && n=$((n + 1)); done\n'
        f'if [ "$n" -ge {after} ]; then read -r _ < {shlex.quote(str(gate))}; fi\n'
        f'exec {shlex.quote(real)} "$@"\n'
    )
    script.chmod(0o755)
    return script


def test_sigterm_drains_then_cancels_cleanly(
    clips_media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM in the middle of a long video: exit 0 within the drain timeout (plus start-up
    slack), no ffmpeg left, no partial file; the video is `queued` again, to be resumed.

    Every encode after the second clip is held (a child paused on a FIFO), so the video is still in
    flight when the drain time runs out on any machine."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    (inbox / "long.mp4").write_bytes((clips_media / "long.mp4").read_bytes())
    held = held_ffmpeg(tmp_path, out / "clips", after=2)
    monkeypatch.setenv("STREAMCLIP_FFMPEG", str(held))
    drain_s = 2.0
    config = write_config(
        tmp_path, watch=["in"], output="out", set=[*FIXED_1S, "transcode.workers=1"], settle_s=0.3,
        drain_timeout_s=drain_s, metrics_address="",
    )  # fmt: skip
    with running(["serve", "--config", str(config)], tmp_path, tmp_path / "serve.log") as serve:
        wait_until(lambda: len(list((out / "clips").glob("*.mp4"))) >= 2, "two clips", serve)
        wait_until(lambda: ffmpeg_children_mentioning(tmp_path), "a held encode", serve)
        status, took = serve.stop(signal.SIGTERM)
    assert status == 0, serve.stderr
    assert took < drain_s + 4.0, f"exit took {took:.1f} s"
    assert "drain time over" in serve.stderr
    assert ffmpeg_children_mentioning(tmp_path) == []
    assert leftovers(out) == []
    clips = check_clips(out)
    assert 2 <= len(clips) < 12
    row = ledger_rows(out)[str(inbox / "long.mp4")]
    assert (row["state"], row["note"]) == ("queued", "interrupted by a shutdown")  # resumed at the next start


def test_kill_9_then_restart_resumes_without_rewriting_clips(clips_media: Path, tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    source = inbox / "long.mp4"
    source.write_bytes((clips_media / "long.mp4").read_bytes())
    config = write_config(
        tmp_path, watch=["in"], output="out", set=[*FIXED_1S, "transcode.workers=1"], settle_s=0.3,
        metrics_address="",
    )  # fmt: skip
    args = ["serve", "--config", str(config)]
    with running(args, tmp_path, tmp_path / "first.log") as first:
        wait_until(lambda: len(list((out / "clips").glob("*.mp4"))) >= 3, "three clips", first)
        first.proc.send_signal(signal.SIGKILL)  # the daemon alone, in the middle of the video
        first.proc.wait()
        before = {p.stem: p.stat().st_mtime_ns for p in (out / "clips").glob("*.mp4")}
    assert 3 <= len(before) < 12, "the kill did not land in the middle of the video"
    assert states(out) == {"long.mp4": "running"}
    # The killed daemon's ffmpeg children die with it (they would otherwise run on as orphans).
    wait_until(lambda: not ffmpeg_children_mentioning(tmp_path), "ffmpeg children to die with it", None, timeout_s=5)

    with running(args, tmp_path, tmp_path / "second.log") as second:
        wait_until(lambda: states(out) == {"long.mp4": "done"}, "the resumed video to finish", second)
        status, _ = second.stop()
    assert status == 0, second.stderr
    assert "removed work folder left by a stopped process" in second.stderr
    clips = check_clips(out)
    assert clips == expected_clips(source)  # every clip present, exactly once
    assert len(list((out / "metas" / "v0").glob("*.json"))) == 12
    for stem, mtime_ns in before.items():
        assert (out / "clips" / f"{stem}.mp4").stat().st_mtime_ns == mtime_ns, f"{stem} was rewritten"
    row = ledger_rows(out)[str(source)]
    assert (row["state"], row["clips"], row["attempts"]) == ("done", 12, 2)
    assert leftovers(out) == []


def test_a_file_the_daemon_keeps_dying_on_is_quarantined(clips_media: Path, tmp_path: Path) -> None:
    """A source still `running` after three starts (the daemon died each time) is not tried again."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    poison, fine = inbox / "poison.mp4", inbox / "fine.mp4"
    poison.write_bytes((clips_media / "small_01.mp4").read_bytes())
    fine.write_bytes((clips_media / "small_02.mp4").read_bytes())
    settings = settings_hash(load_config("default", FIXED_1S))
    with Ledger(out / ".streamclip" / "ledger.sqlite") as ledger:
        for path, attempts in ((poison, 3), (fine, 2)):
            st = path.stat()
            ledger.queue(str(path), size=st.st_size, mtime_ns=st.st_mtime_ns, fingerprint=fingerprint(path),
                         settings_hash=settings)  # fmt: skip
            for _ in range(attempts):
                ledger.start(str(path))
    args = ["watch", "in", "-o", "out", "--settle-s", "0.3", *(f"--set={s}" for s in FIXED_1S)]
    with running(args, tmp_path, tmp_path / "watch.log") as watch:
        wait_until(lambda: states(out) == {"poison.mp4": "quarantined", "fine.mp4": "done"}, "both settled", watch)
        status, _ = watch.stop()
    assert status == 0, watch.stderr
    rows = ledger_rows(out)
    assert rows[str(poison)]["error"] == "the daemon stopped 3 times while processing this file"
    assert (rows[str(fine)]["clips"], rows[str(fine)]["attempts"]) == (3, 3)


def test_fifty_videos_memory_flat_and_metrics_match_outputs(tmp_path: Path) -> None:
    """Fifty small videos through one `serve`: RSS after all fifty within 10 % of after five."""
    sources, inbox, out = tmp_path / "sources", tmp_path / "in", tmp_path / "out"
    sources.mkdir()
    inbox.mkdir()
    videos = variants(make_tagged(tmp_path / "seed.mp4", [("testsrc2", 1.0)]), sources, 50, "v")
    port = free_port()
    config = write_config(
        tmp_path, watch=["in"], output="out", set=FIXED_1S, settle_s=0.3, metrics_address=f"127.0.0.1:{port}",
        max_videos_in_flight=4,
    )  # fmt: skip

    def done() -> float:
        return metric(port, "streamclip_videos_total", outcome="done")

    with running(["serve", "--config", str(config)], tmp_path, tmp_path / "serve.log") as serve:
        for video in videos[:5]:
            os.link(video, inbox / video.name)
        wait_until(lambda: done() == 5, "five videos done", serve)
        after_five = psutil.Process(serve.proc.pid).memory_info().rss
        for video in videos[5:]:
            os.link(video, inbox / video.name)
        wait_until(lambda: done() == 50, "fifty videos done", serve, timeout_s=90)
        after_fifty = psutil.Process(serve.proc.pid).memory_info().rss
        metrics = scrape(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            assert health.read() == b"ok\n"
        status, _ = serve.stop()
    assert status == 0, serve.stderr
    print(f"RSS after 5 videos {after_five / 2**20:.1f} MiB, after 50 {after_fifty / 2**20:.1f} MiB")
    assert after_fifty <= after_five * 1.10, (after_five, after_fifty)

    clips = check_clips(out)
    assert len(clips) == 50
    assert metrics[("streamclip_clips_total", ())] == len(clips)
    assert metrics[("streamclip_videos_total", (("outcome", "done"),))] == 50
    assert metrics[("streamclip_ledger_sources", (("state", "done"),))] == 50
    assert metrics[("streamclip_ledger_clips", (("state", "done"),))] == 50
    assert metrics[("streamclip_ingest_to_clip_seconds_count", ())] == 50
    assert metrics[("streamclip_videos_in_flight", ())] == 0
    assert metrics[("streamclip_channel_capacity", (("channel", "jobs"),))] >= 1
    assert len(list((out / "processed_videos").glob("*.json"))) == 50
