"""Where the test suite's CPU time goes: a pytest plugin that records CPU-seconds per test phase, and a
summary of what it recorded.

    PYTHONPATH=benchmarks SUITE_CPU_OUT=/tmp/suite-cpu.tsv .venv/bin/python -m pytest -p suite_cpu [pytest args]
    .venv/bin/python benchmarks/suite_cpu.py /tmp/suite-cpu.tsv [--top 15]

Each phase (setup, call, teardown) of each test appends a line: CPU-s of the test process and of the
children it reaped (ffmpeg, CLI and daemon subprocesses), wall seconds, when it started, the xdist
worker, the phase, the test id. Works under pytest-xdist (every worker appends to the same file); the
summary's timeline then shows when each worker ran which file and how long it sat idle at the end.
Not counted: processes the test process does not reap itself (a Ray runtime's workers), and the
controller's model preparation. A session fixture's cost falls on the first test that uses it. Wall
time depends on the machine's load; CPU-s much less, which is why the suite's cost is read here, not
from `--durations`.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import resource
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

OUT_VARIABLE = "SUITE_CPU_OUT"


@dataclasses.dataclass(frozen=True, order=True)
class Phase:
    cpu: float
    wall: float
    started: float
    worker: str
    phase: str
    nodeid: str

    @property
    def file(self) -> str:
        return self.nodeid.split("::", 1)[0]


def _cpu_s() -> float:
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def _recorded(phase: str) -> Callable[..., Generator[None, None, None]]:
    @pytest.hookimpl(hookwrapper=True)
    def hook(item: pytest.Item, *args: Any, **kwargs: Any) -> Generator[None, None, None]:
        cpu, wall, started = _cpu_s(), time.monotonic(), time.time()
        yield
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        took = f"{_cpu_s() - cpu:.2f}\t{time.monotonic() - wall:.2f}\t{started:.2f}"
        line = f"{took}\t{worker}\t{phase}\t{item.nodeid}\n"
        with open(os.environ.get(OUT_VARIABLE, "suite-cpu.tsv"), "a", encoding="utf-8") as out:
            out.write(line)

    return hook


pytest_runtest_setup = _recorded("setup")
pytest_runtest_call = _recorded("call")
pytest_runtest_teardown = _recorded("teardown")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recorded", help="the file SUITE_CPU_OUT named")
    parser.add_argument("--top", type=int, default=15, help="how many files and test phases to list")
    args = parser.parse_args()
    phases: list[Phase] = []
    with open(args.recorded, encoding="utf-8") as recorded:
        for line in recorded:
            cpu, wall, started, worker, phase, nodeid = line.rstrip("\n").split("\t", 5)
            phases.append(Phase(float(cpu), float(wall), float(started), worker, phase, nodeid))
    files: collections.Counter[str] = collections.Counter()
    walls: collections.Counter[str] = collections.Counter()
    for p in phases:
        files[p.file] += p.cpu
        walls[p.file] += p.wall
    cpu, wall = sum(p.cpu for p in phases), sum(p.wall for p in phases)
    print(f"{cpu:.1f} CPU-s, {wall:.1f} s of test time, {len(phases)} phases")
    print("\n| file | CPU-s | test time (s) |\n|---|---:|---:|")
    for name, cpu in files.most_common(args.top):
        print(f"| `{name}` | {cpu:.1f} | {walls[name]:.1f} |")
    print("\n| CPU-s | test time (s) | phase | test |\n|---:|---:|---|---|")
    for p in sorted(phases, reverse=True)[: args.top]:
        print(f"| {p.cpu:.1f} | {p.wall:.1f} | {p.phase} | `{p.nodeid}` |")
    print_timeline(phases)
    return 0


def print_timeline(phases: list[Phase]) -> None:
    """Per worker, each file's run in seconds from the first phase's start, and the idle tail: the time
    between the worker's last phase and the end of the last worker's."""
    start = min(p.started for p in phases)
    end = max(p.started + p.wall for p in phases)
    print(f"\nTimeline: {end - start:.0f} s from the first test phase to the last\n")
    print("| worker | file | from (s) | to (s) | CPU-s |\n|---|---|---:|---:|---:|")
    for worker in sorted({p.worker for p in phases}):
        runs: list[list[Any]] = []  # [file, from, to, cpu], consecutive phases of one file merged
        for p in sorted((p for p in phases if p.worker == worker), key=lambda p: p.started):
            if not runs or runs[-1][0] != p.file:
                runs.append([p.file, p.started - start, 0.0, 0.0])
            runs[-1][2] = p.started + p.wall - start
            runs[-1][3] += p.cpu
        for file, begun, done, cpu in runs:
            print(f"| {worker} | `{file}` | {begun:.0f} | {done:.0f} | {cpu:.1f} |")
        print(f"| {worker} | (idle at the end) | {runs[-1][2]:.0f} | {end - start:.0f} | |")


if __name__ == "__main__":
    raise SystemExit(main())
