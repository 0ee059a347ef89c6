"""Where the test suite's CPU time goes: a pytest plugin that records CPU-seconds per test phase, and a
summary of what it recorded.

    PYTHONPATH=benchmarks SUITE_CPU_OUT=/tmp/suite-cpu.tsv .venv/bin/python -m pytest -p suite_cpu [pytest args]
    .venv/bin/python benchmarks/suite_cpu.py /tmp/suite-cpu.tsv [--top 15]

Each phase (setup, call, teardown) of each test appends a line: CPU-s of the test process and of the
children it reaped (ffmpeg, CLI and daemon subprocesses), wall seconds, the phase, the test id. Works
under pytest-xdist (every worker appends to the same file). Not counted: processes the test process
does not reap itself (a Ray runtime's workers), and the controller's model preparation. A session
fixture's cost falls on the first test that uses it. Wall time depends on the machine's load; CPU-s
much less, which is why the suite's cost is read here, not from `--durations`.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

OUT_VARIABLE = "SUITE_CPU_OUT"


def _cpu_s() -> float:
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def _recorded(phase: str) -> Callable[..., Generator[None, None, None]]:
    @pytest.hookimpl(hookwrapper=True)
    def hook(item: pytest.Item, *args: Any, **kwargs: Any) -> Generator[None, None, None]:
        cpu, wall = _cpu_s(), time.monotonic()
        yield
        line = f"{_cpu_s() - cpu:.2f}\t{time.monotonic() - wall:.2f}\t{phase}\t{item.nodeid}\n"
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
    phases = []
    with open(args.recorded, encoding="utf-8") as recorded:
        for line in recorded:
            cpu, wall, phase, nodeid = line.rstrip("\n").split("\t", 3)
            phases.append((float(cpu), float(wall), phase, nodeid))
    files: collections.Counter[str] = collections.Counter()
    walls: collections.Counter[str] = collections.Counter()
    for cpu, wall, _, nodeid in phases:
        files[nodeid.split("::", 1)[0]] += cpu
        walls[nodeid.split("::", 1)[0]] += wall
    print(
        f"{sum(p[0] for p in phases):.1f} CPU-s, {sum(p[1] for p in phases):.1f} s of test time, {len(phases)} phases"
    )
    print("\n| file | CPU-s | test time (s) |\n|---|---:|---:|")
    for name, cpu in files.most_common(args.top):
        print(f"| `{name}` | {cpu:.1f} | {walls[name]:.1f} |")
    print("\n| CPU-s | test time (s) | phase | test |\n|---:|---:|---|---|")
    for cpu, wall, phase, nodeid in sorted(phases, reverse=True)[: args.top]:
        print(f"| {cpu:.1f} | {wall:.1f} | {phase} | `{nodeid}` |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
