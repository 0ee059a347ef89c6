"""The ingest daemon's parts on their own: fingerprint, ledger, config, watcher, metrics server."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import media
import msgspec
import pytest
from processes import undeletable

from streamclip.config import StorageConfig, load_config
from streamclip.errors import BAD_INPUT, ConfigError, Reason
from streamclip.ingest.config import ServeConfig, load_serve_config, parse_address, settings_hash
from streamclip.ingest.context import DaemonContext
from streamclip.ingest.fingerprint import begins_with, fingerprint
from streamclip.ingest.flights import Flights
from streamclip.ingest.housekeeping import (
    OutputLocked,
    Removal,
    lock_ledger,
    lock_output,
    move_aside,
    remove_outdated_outputs,
)
from streamclip.ingest.intake import Intake
from streamclip.ingest.ledger import Ledger, LedgerMismatch
from streamclip.ingest.metrics import Metrics, MetricsServer
from streamclip.ingest.outcomes import Outcomes
from streamclip.ingest.report import LineReporter
from streamclip.ingest.watcher import Candidate, Watcher, is_candidate_name
from streamclip.runtime.channel import Channel, EndOfStream
from streamclip.storage import s3
from streamclip.storage.layout import clip_path, frames_path, meta_path

# ---------------------------------------------------------------------------------------------
# fingerprint


def test_fingerprint_follows_content_not_name_or_mtime(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(os.urandom(5000))
    b = tmp_path / "b.bin"
    shutil.copy(a, b)
    os.utime(b, (1, 1))
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a).startswith("5000:")
    data = bytearray(a.read_bytes())
    data[2500] ^= 0xFF
    b.write_bytes(bytes(data))
    assert fingerprint(a) != fingerprint(b)
    b.write_bytes(bytes(data) + b"x")
    assert fingerprint(b).startswith("5001:")


def test_fingerprint_reads_only_both_ends_of_a_large_file(tmp_path: Path) -> None:
    """The documented trade-off: a change strictly inside the middle of a large file goes unseen."""
    edge = 1024
    data = bytearray(os.urandom(5 * edge))
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(data))
    before = fingerprint(path, edge_bytes=edge)
    data[2 * edge] ^= 0xFF
    path.write_bytes(bytes(data))
    assert fingerprint(path, edge_bytes=edge) == before
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert fingerprint(path, edge_bytes=edge) != before


def test_a_fingerprint_of_the_beginning_tells_a_grown_file_from_a_rewritten_one(tmp_path: Path) -> None:
    edge = 1024
    path = tmp_path / "grows.ts"
    path.write_bytes(os.urandom(3 * edge))
    before = fingerprint(path, edge_bytes=edge)
    with path.open("ab") as f:
        f.write(os.urandom(edge))
    assert fingerprint(path, edge_bytes=edge, size=3 * edge) == before  # it only grew
    assert begins_with(path, fingerprint(path))
    grown = fingerprint(path)
    with path.open("r+b") as f:  # written again in place, from the start
        f.write(os.urandom(2 * edge))
    assert not begins_with(path, grown)
    assert not begins_with(path, f"{10 * edge}:00")  # shorter than that content


# ---------------------------------------------------------------------------------------------
# ledger


def test_ledger_records_a_source_through_its_states(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.queue("/in/a.mp4", size=10, mtime_ns=5, fingerprint="10:aa", settings_hash="s1")
        row = ledger.get("/in/a.mp4")
        assert row is not None
        assert (row.state, row.clips, row.attempts) == ("queued", 0, 0)
        ledger.start("/in/a.mp4")
        assert ledger.add_clip("/in/a.mp4", "c1")
        assert ledger.add_clip("/in/a.mp4", "c2")
        assert not ledger.add_clip("/in/a.mp4", "c1")  # reused after a restart: counted once
        ledger.finish("/in/a.mp4", "done", note="fine")
    with Ledger(path) as ledger:  # reopened: everything was committed
        row = ledger.get("/in/a.mp4")
        assert row is not None
        assert (row.state, row.clips, row.attempts, row.note) == ("done", 2, 1, "fine")
        assert row.same_work("10:aa", "s1")
        assert not row.same_work("10:aa", "s2")
        assert sorted(ledger.clips_of("/in/a.mp4")) == ["c1", "c2"]
        twin = ledger.twin_of("/in/b.mp4", "10:aa", "s1")
        assert twin is not None
        assert twin.path == "/in/a.mp4"
        assert ledger.twin_of("/in/a.mp4", "10:aa", "s1") is None
        assert ledger.twin_of("/in/b.mp4", "10:aa", "s2") is None
        ledger.forget_clips("/in/a.mp4")
        assert ledger.clips_of("/in/a.mp4") == []
        ledger.queue("/in/bad.mp4", size=1, mtime_ns=1, fingerprint="1:bb", settings_hash="s1")
        ledger.finish("/in/bad.mp4", "quarantined", error="not a video file")
        summary = {c.state: (c.sources, c.clips) for c in ledger.summary()}
        assert summary == {"queued": (0, 0), "running": (0, 0), "done": (1, 0), "failed": (0, 0), "quarantined": (1, 0)}
        assert [r.path for r in ledger.records("quarantined", "failed")] == ["/in/bad.mp4"]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_ledger_requeue_resets_the_outcome_but_keeps_the_history(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.queue("/a", size=1, mtime_ns=1, fingerprint="f1", settings_hash="s")
        ledger.start("/a")
        ledger.finish("/a", "failed", error="boom", failed_clips=2)
        ledger.queue("/a", size=2, mtime_ns=2, fingerprint="f2", settings_hash="s")
        row = ledger.get("/a")
        assert row is not None
        assert (row.state, row.error, row.failed_clips, row.fingerprint, row.attempts) == ("queued", "", 0, "f2", 1)
        assert row.finished_at is None


def test_a_reader_does_not_create_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Ledger(tmp_path / "none.sqlite", create=False)
    assert not (tmp_path / "none.sqlite").exists()


# ---------------------------------------------------------------------------------------------
# config


def test_serve_config_is_strict_and_anchors_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    file = tmp_path / "conf" / "serve.toml"
    file.write_text('watch = ["in", "/abs/in"]\noutput = "../out"\nset = ["spans.max_length_s=5"]\n')
    config = load_serve_config(file)
    assert config.watch == [str(tmp_path / "conf" / "in"), "/abs/in"]
    assert Path(config.output).resolve() == tmp_path / "out"
    assert config.overrides == ["spans.max_length_s=5"]
    assert config.pipeline_config().spans.max_length_s == 5
    assert config.ledger_path.resolve() == tmp_path / "out" / ".streamclip" / "ledger.sqlite"
    for text, message in [
        ('watch = ["in"]\noutput = "o"\nsettle = 3\n', "unknown key settle"),
        ('watch = ["in"]\noutput = "o"\nsettle_s = "slow"\n', "settle_s"),
        ('watch = []\noutput = "o"\n', "at least one folder"),
        ('output = "o"\n', "watch"),
        ('watch = ["in"]\noutput = "o"\nmetrics_address = "nowhere"\n', "host:port"),
        ('watch = ["in"\n', "invalid TOML"),
    ]:
        file.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_serve_config(file)
    with pytest.raises(ConfigError, match="config file not found"):
        load_serve_config(tmp_path / "missing.toml")


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_address("[::1]:80") == ("::1", 80)
    for bad in ("9464", ":9464", "host:", "host:99999", "host:x"):
        with pytest.raises(ValueError, match="host:port"):
            parse_address(bad)


def test_settings_hash_ignores_tuning_and_follows_output_settings() -> None:
    base = settings_hash(load_config("default"))
    tuned = load_config("default", ["transcode.workers=7", "channels.frames=3", "detector.batch_windows=9"])
    assert settings_hash(tuned) == base
    assert settings_hash(load_config("default", ["limits.floor_s=5", "decode.max_videos=5"])) == base
    assert settings_hash(load_config("default", ["spans.max_length_s=5"])) != base
    assert settings_hash(load_config("default", ["detector.threshold=0.5"])) != base
    assert settings_hash(load_config("fixed-stride")) != base


# ---------------------------------------------------------------------------------------------
# names, lock, quarantine, reasons


@pytest.mark.parametrize(
    ("rel", "wanted"),
    [
        ("a.mp4", True),
        ("sub/dir/b.MKV", True),
        ("notes.txt", False),
        (".a.mp4", False),
        (".hidden/a.mp4", False),
        ("a.mp4.part", False),
        ("a.mp4.tmp", False),
        ("a.mp4.crdownload", False),
        ("a.mp4~", False),
        ("a.partial", False),
        ("~$a.mp4", False),
    ],
)
def test_candidate_names(rel: str, wanted: bool) -> None:
    root = Path("/watch")
    assert is_candidate_name(root / rel, root) is wanted


def test_one_daemon_per_output_folder(tmp_path: Path) -> None:
    held = lock_output(tmp_path / ".streamclip")
    try:
        with pytest.raises(OutputLocked, match="another streamclip daemon"):
            lock_output(tmp_path / ".streamclip")
    finally:
        held.close()
    lock_output(tmp_path / ".streamclip").close()


def test_one_daemon_per_ledger_and_a_ledger_serves_one_output(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger.sqlite"
    held = lock_ledger(path)
    try:
        with pytest.raises(OutputLocked, match=f"using the ledger {path} \\(process {os.getpid()}, "):
            lock_ledger(path)
    finally:
        held.close()
    lock_ledger(path).close()
    with Ledger(path) as ledger:
        assert ledger.output() is None  # a ledger of an older version: it is adopted
        ledger.claim("/data/out")
        ledger.claim("/data/out")
        with pytest.raises(LedgerMismatch, match="belongs to the output /data/out, not /data/other"):
            ledger.claim("/data/other")
        assert ledger.output() == "/data/out"
        ledger.claim("/data/moved", moves_with_it=True)  # kept inside its output folder, which moved
        assert ledger.output() == "/data/moved"


def test_removing_outdated_outputs_says_which_clips_are_really_gone(tmp_path: Path) -> None:
    """A clip is removed when all its files are; the first failure stops the removal and says why."""
    first, second = sorted(uuid.uuid4() for _ in range(2))
    for clip_id in (first, second):
        for path in (clip_path(tmp_path, clip_id), meta_path(tmp_path, clip_id)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    frames_path(tmp_path, second).parent.mkdir()
    frames_path(tmp_path, second).write_bytes(b"x")  # the first clip has no frames file
    with undeletable(tmp_path / "frames"):
        removal = remove_outdated_outputs(tmp_path, [str(first), str(second)])
    assert removal.removed == [str(first)]
    assert str(frames_path(tmp_path, second)) in removal.failure
    assert not clip_path(tmp_path, second).exists()  # what could go went
    assert frames_path(tmp_path, second).exists()
    again = remove_outdated_outputs(tmp_path, [str(second)])
    assert (again.removed, again.failure) == ([str(second)], "")


def test_removing_outdated_outputs_from_an_unreachable_bucket_removes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens there once the socket is closed
    for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed}", "AWS_ACCESS_KEY_ID": "AK",
                        "AWS_SECRET_ACCESS_KEY": "SK", "AWS_ALLOW_HTTP": "true"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    s3.configure(StorageConfig(retry_timeout_s=0.5, request_timeout_s=2.0))
    s3.store.cache_clear()
    try:
        removal = remove_outdated_outputs("s3://bucket/out", [str(uuid.uuid4())])
    finally:
        s3.configure(StorageConfig())
        s3.store.cache_clear()
    assert removal.removed == []
    assert "s3://bucket/out/clips/" in removal.failure


async def test_outdated_clips_are_removed_off_the_event_loop_and_only_removed_ones_forgotten(tmp_path: Path) -> None:
    """The removal (files, or objects over the network) runs in a worker thread, and the ledger
    forgets only the clips it reports removed; the changed source is then queued and submitted."""
    source = tmp_path / "a.mp4"
    source.write_bytes(b"new content")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.queue(str(source), size=3, mtime_ns=1, fingerprint="old", settings_hash="s")
    for clip in ("c1", "c2"):
        ledger.add_clip(str(source), clip)
    ledger.finish(str(source), "done")
    threads: list[int] = []

    def remove(clip_ids: list[str]) -> Removal:
        threads.append(threading.get_ident())
        return Removal(clip_ids[:1])  # as if the second could not be checked: it stays recorded

    class Pipe:  # the pipeline's edge: what was submitted
        def __init__(self) -> None:
            self.submitted: list[str] = []

        async def submit(self, path: str, *, rel: str, follow: bool) -> None:
            self.submitted.append(path)

    metrics = Metrics()
    ctx = DaemonContext(
        config=ServeConfig(watch=[str(tmp_path)], output=str(tmp_path / "out")), settings="s", ledger=ledger,
        flights=Flights(2, metrics), metrics=metrics, reporter=LineReporter(io.StringIO()), review=None,
    )  # fmt: skip

    async def set_aside(path: str, rel: str, reason: str, kind: Reason) -> None:
        raise AssertionError(f"set aside: {reason}")

    intake = Intake(ctx, set_aside=set_aside, remove_outputs=remove)
    pipe = Pipe()
    candidate = Candidate(path=str(source), rel="a.mp4", size=11, mtime_ns=2)
    await intake.take(pipe, candidate)  # type: ignore[arg-type]
    assert threads
    assert threads != [threading.get_ident()]
    assert ledger.clips_of(str(source)) == ["c2"]
    row = ledger.get(str(source))
    assert row is not None
    assert (row.state, row.clips) == ("running", 1)
    assert pipe.submitted == [str(source)]
    ledger.close()


async def test_a_file_set_aside_is_reported_with_the_kind_its_ledger_row_records(tmp_path: Path) -> None:
    """One line per file, as `split` and `status` print one: `QUARANTINED rel [kind]: reason`."""
    bad = tmp_path / "in" / "bad.mp4"
    bad.parent.mkdir()
    bad.write_text("not a video")
    log, metrics = io.StringIO(), Metrics()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.queue(str(bad), size=11, mtime_ns=1, fingerprint="f", settings_hash="s")
        ctx = DaemonContext(
            config=ServeConfig(watch=[str(bad.parent)], output=str(tmp_path / "out")), settings="s", ledger=ledger,
            flights=Flights(2, metrics), metrics=metrics, reporter=LineReporter(log), review=None,
        )  # fmt: skip
        outcomes = Outcomes(ctx, streams=None)  # type: ignore[arg-type]  # no stream here
        await outcomes.set_aside(str(bad), "bad.mp4", "not a video file", Reason.NOT_A_VIDEO)
        row = ledger.get(str(bad))
    assert row is not None
    assert (row.state, row.kind) == ("quarantined", "not_a_video")
    assert "QUARANTINED bad.mp4 [not_a_video]: not a video file" in log.getvalue()


def test_move_aside_keeps_the_folder_layout_and_never_overwrites(tmp_path: Path) -> None:
    for n in range(2):
        (tmp_path / "in" / "sub").mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / "sub" / "bad.mp4").write_text(f"bad {n}")
        moved = move_aside(tmp_path / "in" / "sub" / "bad.mp4", tmp_path / "q", "sub/bad.mp4")
        assert moved.read_text() == f"bad {n}"
    assert sorted(p.name for p in (tmp_path / "q" / "sub").iterdir()) == ["bad.1.mp4", "bad.mp4"]


def test_reason_kinds_are_a_small_fixed_set_and_only_bad_files_are_quarantined() -> None:
    assert {kind.value for kind in Reason} >= {
        "not_a_video", "no_video_stream", "incomplete", "decode_error", "timeout", "output_io", "missing_tool",
        "worker_lost",
    }  # fmt: skip
    assert {Reason.INCOMPLETE, Reason.NOT_A_VIDEO} <= BAD_INPUT
    for environment in (Reason.OUTPUT_IO, Reason.MISSING_TOOL, Reason.TIMEOUT, Reason.WORKER_LOST):
        assert environment not in BAD_INPUT  # not the file's fault: `failed`, tried again at the next start


def test_an_interrupted_start_goes_back_to_queued_and_is_no_death(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.queue("/v.mp4", size=1, mtime_ns=1, fingerprint="f", settings_hash="s")
        for _ in range(5):  # five starts, each stopped in order (a drain cut short, a part failed)
            ledger.start("/v.mp4")
            ledger.interrupt("/v.mp4", note="interrupted: a part of the daemon failed")
        row = ledger.get("/v.mp4")
    assert row is not None
    assert (row.state, row.attempts, row.note) == ("queued", 0, "interrupted: a part of the daemon failed")


# ---------------------------------------------------------------------------------------------
# watcher (in process, short settle time)


async def _collect(inbox: Channel[Candidate], want: int, *, within_s: float, quiet_s: float = 0.6) -> list[Candidate]:
    """Receive until `want` candidates came (or `within_s` passed), then `quiet_s` more for extras."""
    got: list[Candidate] = []
    deadline = time.monotonic() + within_s
    while (left := deadline - time.monotonic()) > 0:
        if len(got) == want:
            deadline = min(deadline, time.monotonic() + quiet_s)
        try:
            got.append(await inbox.receive(timeout_s=left))
        except (TimeoutError, EndOfStream):
            break
    return got


async def test_watcher_hands_on_a_growing_file_once_it_settled(tmp_path: Path) -> None:
    video = media.make_cut_video(
        tmp_path / "src.mp4", scenes=[("testsrc2", 1.0)], extra_out_args=["-movflags", "+faststart"]
    )
    data = video.path.read_bytes()
    root, out = tmp_path / "in", tmp_path / "in" / "out"
    (root / ".hidden").mkdir(parents=True)
    out.mkdir()
    shutil.copy(video.path, root / "there_before.mp4")
    for ignored in ("x.mp4.part", ".x.mp4", ".hidden/x.mp4", "x.mp4~", "out/x.mp4", "notes.txt"):
        (root / ignored).write_bytes(data)
    inbox: Channel[Candidate] = Channel(4, "candidates")
    watcher = Watcher([root], inbox, settle_s=0.4, rescan_s=0.3, incomplete_wait_s=0.0, exclude=[out])
    task = asyncio.create_task(watcher.run())
    try:
        growing = root / "growing.mp4"
        step = len(data) // 6 + 1
        for k in range(0, len(data), step):
            with growing.open("ab") as handle:
                handle.write(data[k : k + step])
            await asyncio.sleep(0.2)  # shorter than settle_s: never handed on half-written
        got = await _collect(inbox, 2, within_s=3.0)
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)
    assert sorted(c.rel for c in got) == ["growing.mp4", "there_before.mp4"]
    for candidate in got:
        assert candidate.size == len(data)
        assert candidate.error == ""
    assert inbox.closed
    assert watcher.statistics()["pending"] == 0


async def test_watcher_reports_a_bad_file_once_and_waits_for_an_incomplete_one(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    media.make_text(root / "text.mp4")
    src = media.make_cut_video(tmp_path / "src.mp4", scenes=[("testsrc2", 1.0)]).path  # moov at the end
    media.make_truncated_moov_at_end(root / "half.mp4", src)
    inbox: Channel[Candidate] = Channel(4, "candidates")
    watcher = Watcher([root], inbox, settle_s=0.2, rescan_s=0.2, incomplete_wait_s=1.5)
    task = asyncio.create_task(watcher.run())
    try:
        first = await _collect(inbox, 1, within_s=1.0, quiet_s=0.3)
        assert [(c.rel, c.error.startswith("not a video file")) for c in first] == [("text.mp4", True)]
        later = await _collect(inbox, 1, within_s=2.5)  # the incomplete MP4 is given up on after 1.5 s
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)
    assert [c.rel for c in later] == ["half.mp4"]
    assert "file incomplete" in later[0].error


async def test_watcher_does_not_probe_files_it_is_told_are_known(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for name in ("done.mp4", "new.mp4"):
        media.make_text(root / name)  # probing either would hand it on as bad
    done = root / "done.mp4"
    signature = (str(done), done.stat().st_size, done.stat().st_mtime_ns)
    inbox: Channel[Candidate] = Channel(4, "candidates")
    watcher = Watcher(
        [root], inbox, settle_s=0.2, rescan_s=0.2, incomplete_wait_s=0.0, known=lambda *file: file == signature
    )
    task = asyncio.create_task(watcher.run())
    try:
        got = await _collect(inbox, 1, within_s=2.0)
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)
    assert [c.rel for c in got] == ["new.mp4"]
    assert watcher.statistics()["probes"] == 1


# ---------------------------------------------------------------------------------------------
# metrics endpoint


async def _get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_metrics_server_answers_and_stops(tmp_path: Path) -> None:
    problem = ""
    metrics = Metrics()
    metrics.clips.inc(3)
    metrics.failures.labels(reason="not_a_video").inc()
    server = MetricsServer(metrics, "127.0.0.1", 0, lambda: problem)
    await server.start()
    try:
        status, body = await _get(server.port, "/metrics")
        assert status == 200
        assert "streamclip_clips_total 3.0" in body
        assert 'streamclip_failures_total{reason="not_a_video"} 1.0' in body
        assert await _get(server.port, "/healthz") == (200, "ok\n")
        problem = "draining"
        assert await _get(server.port, "/healthz") == (503, "draining\n")
        assert (await _get(server.port, "/nope"))[0] == 404
        assert (await _get(server.port, "/metrics", "POST"))[0] == 405
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"garbage\r\n\r\n")  # a bad request closes the connection, the server lives on
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        assert (await _get(server.port, "/healthz"))[0] == 503
        idle = await asyncio.open_connection("127.0.0.1", server.port)  # says nothing: cut at close
    finally:
        await server.close()
    idle[1].close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", server.port)


def test_serve_config_defaults_are_documented_in_the_example() -> None:
    example = Path(__file__).parent.parent / "examples" / "serve.toml"
    config = msgspec.toml.decode(example.read_bytes(), type=ServeConfig)
    defaults = ServeConfig(watch=["x"], output="y")
    for key in ("max_videos_in_flight", "drain_timeout_s", "metrics_address", "settle_s", "rescan_s"):
        assert getattr(config, key) == getattr(defaults, key), key
