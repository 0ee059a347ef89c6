"""The suite's own xdist scheduling (tests/worker_groups.py), run on a few files of its own: every
test of a file, and every file that starts Ray, on one worker, so each module fixture is made once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("xdist")

_TEST_FILE = """
import json, os
import pytest

@pytest.fixture(scope="module")
def made_once():
    return os.getpid()

@pytest.mark.parametrize("n", range(4))
def test_it(made_once, n):
    with open(os.environ["RECORDS"], "a") as f:
        f.write(json.dumps([__name__, os.environ["PYTEST_XDIST_WORKER"], made_once]) + "\\n")
"""


def test_a_file_and_the_ray_files_each_run_on_one_worker_with_their_module_fixtures_made_once(
    tmp_path: Path,
) -> None:
    files = ["test_ray.py", "test_ray_join.py", "test_review.py", "test_decisions.py", "test_one.py", "test_two.py"]
    for name in files:
        (tmp_path / name).write_text(_TEST_FILE)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["worker_groups"]\n')
    records = tmp_path / "records.jsonl"
    env = {**os.environ, "RECORDS": str(records), "PYTHONPATH": str(Path(__file__).parent)}
    argv = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    seen: defaultdict[str, set[tuple[str, int]]] = defaultdict(set)  # module -> (worker, fixture's pid)
    lines = records.read_text().splitlines()
    for module, worker, pid in map(json.loads, lines):
        seen[module.rsplit(".", 1)[-1]].add((worker, pid))
    assert len(lines) == 4 * len(files)
    assert sorted(seen) == sorted(name.removesuffix(".py") for name in files)
    assert all(len(runs) == 1 for runs in seen.values()), seen  # one worker, one module fixture, per file
    assert {w for w, _ in seen["test_ray"]} == {w for w, _ in seen["test_ray_join"]}  # the Ray files together
    # the files of the session's review split together, so it is made once
    assert {w for w, _ in seen["test_review"]} == {w for w, _ in seen["test_decisions"]}
