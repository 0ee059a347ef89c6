"""Joining a Ray cluster started by another process, as a new user would: `streamclip split --ray ADDRESS`.

The head is `ray.init()` in a process of its own (tests/ray_head.py) on 127.0.0.1, with token
authentication on (Ray 2.60's default for a cluster started on a machine) and a token of its own;
every streamclip run is a separate process with its own HOME, so no token file of the machine is
read or written. The head's whole process group is killed at the end, and the test checks that
nothing of it is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import media
import psutil
import pytest

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parent.parent
HEAD_START_TIMEOUT_S = 90.0
SCENES = [("testsrc2", 2.0), ("mandelbrot", 2.0), ("smptebars", 2.0)]
STRIDE = ["--profile", "fixed-stride", "--set", "spans.clip_len_s=2.0", "--set", "spans.clip_stride_s=2.0",
          "--set", "spans.min_clip_length_s=1.0", "--set", "resources.cpus=1"]  # fmt: skip


class Head:
    def __init__(self, proc: subprocess.Popen[str], address: str, token: str) -> None:
        self.proc, self.address, self.token = proc, address, token


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    home = tmp_path_factory.mktemp("head_home")
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_AUTH_TOKEN=token, PYTHONPATH=str(ROOT))  # workers import this tree
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "ray_head.py"), "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=env, cwd=home, start_new_session=True,
    )  # fmt: skip
    try:
        address = _first_line(proc, HEAD_START_TIMEOUT_S)
        port = address.rpartition(":")[2]
        yield Head(proc, f"127.0.0.1:{port}", token)
    finally:
        _stop_head(proc)


def _first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            pytest.fail(f"the Ray head did not start within {timeout_s:.0f} s")
    line = proc.stdout.readline().strip()
    if not line:
        pytest.fail("the Ray head exited without an address")
    return line


def _stop_head(proc: subprocess.Popen[str]) -> None:
    """Let it shut Ray down (stdin closed), then kill whatever of its group is left; check none is."""
    assert proc.stdin is not None
    proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _group_members(proc.pid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.5)
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    assert not _group_members(proc.pid), "processes of the Ray head outlived it"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.make_cut_video(tmp_path_factory.mktemp("join_video") / "v.mp4", scenes=SCENES).path


def streamclip_run(args: list[str], home: Path, timeout_s: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    clean.update(HOME=str(home), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "streamclip", *args], capture_output=True, text=True, env=clean, timeout=timeout_s,
        cwd=home, check=False,
    )  # fmt: skip


def ids_of(stdout: str) -> set[str]:
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {e["uuid"] for e in events if e["event"] == "clip"}


def test_a_separately_started_head_is_joined_with_its_token(head: Head, video: Path, tmp_path: Path) -> None:
    local = streamclip_run(["split", str(video), "-o", str(tmp_path / "local"), *STRIDE, "--events", "jsonl"], tmp_path)
    assert local.returncode == 0, local.stderr
    joined = streamclip_run(
        ["split", str(video), "-o", str(tmp_path / "ray"), *STRIDE, "--events", "jsonl",
         "--ray", head.address, "--ray-actors", "1"],
        tmp_path, RAY_AUTH_TOKEN=head.token,
    )  # fmt: skip
    assert joined.returncode == 0, joined.stderr
    assert ids_of(joined.stdout) == ids_of(local.stdout)
    assert len(ids_of(local.stdout)) == 3


def test_the_token_is_read_from_rays_default_file(head: Head, video: Path, tmp_path: Path) -> None:
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(head.token)
    joined = streamclip_run(
        ["split", str(video), "-o", str(tmp_path / "ray"), *STRIDE, "--ray", head.address, "--ray-actors", "1"],
        tmp_path,
    )
    assert joined.returncode == 0, joined.stderr


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("token", "cause"),
    [("wrong", "rejected the token from RAY_AUTH_TOKEN"), (None, "requires a token and none was found")],
)
def test_a_wrong_or_missing_token_fails_in_one_line(
    head: Head, video: Path, tmp_path: Path, token: str | None, cause: str
) -> None:
    started = time.monotonic()
    env = {"RAY_AUTH_TOKEN": token} if token else {}
    done = streamclip_run(["split", str(video), "-o", str(tmp_path / "out"), "--ray", head.address], tmp_path, **env)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert f"cannot join the Ray cluster at {head.address}" in line
    assert cause in line
    assert time.monotonic() - started < 30  # Ray alone retries for about 20 s, then prints a traceback


def test_nothing_listening_fails_in_one_line_at_once(video: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    started = time.monotonic()
    done = streamclip_run(["split", str(video), "-o", str(tmp_path / "out"), "--ray", f"127.0.0.1:{port}"], tmp_path)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert f"cannot join the Ray cluster at 127.0.0.1:{port}: connection refused" in line
    assert time.monotonic() - started < 20
