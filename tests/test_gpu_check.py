"""scripts/gpu_check.sh on a machine without a GPU: it stops at once, says so, and shows the fallbacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has an NVIDIA GPU")


def test_the_check_script_fails_fast_without_a_gpu_saying_so(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")  # a fresh checkout, nothing set up
    done = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no NVIDIA GPU here" in done.stderr
    assert not (tmp_path / ".gpu-check").exists()  # it set nothing up


def test_the_check_shows_every_fallback_without_a_gpu() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 2
    assert "no NVIDIA GPU here" in done.stderr
    fallbacks = [line for line in done.stdout.splitlines() if line.startswith("fallback")]
    assert len(fallbacks) == 4
    assert all("FAIL" in line for line in fallbacks)
