"""Real streamclip processes in tests: running them, reading their ledger, checking what they leave behind."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest


def let_children_be_interrupted() -> None:
    """A suite started with SIGINT ignored (a background job of a non-interactive shell) would hand
    that on to every child: the CLI tests' SIGINT would be ignored and their splits run to the end.
    A Python handler instead is reset to the default at exec, so children start as from a terminal."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Daemon:
    """A `streamclip` process in its own session, its stderr in a file."""

    def __init__(self, args: list[str], cwd: Path, log: Path) -> None:
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamclip", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            )  # fmt: skip

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> tuple[int, float]:
        """Send `sig`; (exit status, seconds it took to exit)."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"streamclip did not exit within {timeout_s} s of {signal.Signals(sig).name}:\n{self.stderr}")
        return status, time.monotonic() - sent

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextlib.contextmanager
def running(args: list[str], cwd: Path, log: Path) -> Iterator[Daemon]:
    daemon = Daemon(args, cwd, log)
    try:
        yield daemon
    finally:
        daemon.kill()


def wait_until(check: Callable[[], Any], what: str, daemon: Daemon | None, timeout_s: float = 60.0) -> Any:
    """Poll `check` until it returns something true; fail naming `what` (and the daemon's log)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if daemon is not None and daemon.proc.poll() is not None:
            pytest.fail(f"streamclip exited ({daemon.proc.returncode}) while waiting for {what}:\n{daemon.stderr}")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}:\n{daemon.stderr if daemon else ''}")


def ledger_rows(out: Path) -> dict[str, dict[str, Any]]:
    """Rows of OUT/.streamclip/ledger.sqlite by source path ({} while it does not exist)."""
    path = out / ".streamclip" / "ledger.sqlite"
    if not path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        db.row_factory = sqlite3.Row
        try:
            return {row["path"]: dict(row) for row in db.execute("SELECT * FROM sources")}
        finally:
            db.close()
    except sqlite3.OperationalError:
        return {}  # created a moment ago, schema not there yet


def states(out: Path) -> dict[str, str]:
    return {Path(path).name: row["state"] for path, row in ledger_rows(out).items()}


def leftovers(out: Path) -> list[Path]:
    """Work folders and temporary files that a finished or interrupted run must not leave.

    (A daemon's own OUT/.streamclip/ledger* and lock are expected.)
    """
    return [*out.rglob(".streamclip-work-*"), *out.rglob("*.tmp")]


def ffmpeg_children_mentioning(*paths: Path) -> list[str]:
    """Running ffmpeg processes whose command line names one of `paths`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "ffmpeg" and any(str(p) in line for p in paths):
            found.append(f"{proc.pid}: {line}")
    return found


@contextlib.contextmanager
def undeletable(folder: Path) -> Iterator[None]:
    """Nothing in `folder` can be removed (nor added) while inside: `chattr +i` as root (who ignores
    permissions), a read-only folder otherwise. Skips the test where neither holds."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".undeletable-probe"
    probe.touch()
    as_root = os.geteuid() == 0
    mode = folder.stat().st_mode
    if as_root:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if done.returncode != 0:
            probe.unlink()
            pytest.skip(f"cannot make a folder undeletable here: {done.stderr.decode().strip()}")
    else:
        folder.chmod(0o555)
    try:
        try:
            probe.unlink()
        except PermissionError:
            pass
        else:
            pytest.skip(f"{folder} could not be made undeletable")
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(mode)
        probe.unlink(missing_ok=True)
