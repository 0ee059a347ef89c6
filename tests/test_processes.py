"""The suite's own process handling (tests/processes.py), checked on real child processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# A process started with SIGINT ignored, as a non-interactive shell starts a background job; it
# optionally restores SIGINT as the conftest does, then reports what a child of its own is given.
_STARTED_IGNORING = """
import signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.path.insert(0, sys.argv[1])
from processes import let_children_be_interrupted
if sys.argv[2] == "restore":
    let_children_be_interrupted()
probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
print(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip())
"""


@pytest.mark.parametrize(("restore", "interruptible"), [("restore", "True"), ("as-is", "False")])
def test_a_suite_started_with_sigint_ignored_starts_children_ctrl_c_stops(restore: str, interruptible: str) -> None:
    """Found by running `scripts/test.sh` in the background: the CLI's Ctrl-C tests saw their split
    run to the end (exit 0, not 130), since the children inherited the ignored SIGINT."""
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", _STARTED_IGNORING, tests, restore], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == interruptible
