"""How pytest-xdist hands the tests out (`scripts/test.sh`: `-n auto --dist loadgroup`), a plugin of
the rootdir conftest.

One group per test file, so module fixtures (videos, an S3 server, a Ray runtime) are made once;
every file that starts Ray in one group, so two local Ray runtimes never start at once; the files
sharing the session's review split in one group, so it is made once; the longest groups handed out
first.

The groups are made by our own scheduler, not by `xdist_group` marks: xdist's loadgroup finds a
test's group in a suffix it writes into the test's node id, which pytest 9 no longer lets a plugin
change, so every test became a group of its own and each file's module fixtures were made on every
worker that ran one of its tests.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

RAY_FILES = frozenset({"test_ray.py", "test_ray_join.py", "test_object_storage.py"})
REVIEW_SPLIT_FILES = frozenset({"test_review.py", "test_decisions.py"})  # conftest's review_split
# Handed out first, longest first (their test time in a whole run, benchmarks/suite_cpu.py); the others,
# each a few seconds, follow in file order. Listing the middling files too keeps the last minute to short
# files, so no worker sits idle at the end while another finishes a long one.
LONGEST_GROUPS = ["ray", "test_detector_accuracy.py", "test_live.py", "test_autoshot.py", "test_follow.py",
                  "test_ingest_daemon.py", "test_pipeline.py", "test_engines.py", "review_split", "test_report_s3.py",
                  "test_bad_input.py", "test_detector_fast.py", "test_cli.py", "test_gpu_decode.py", "test_secrets.py",
                  "test_streams.py", "test_detector.py", "test_dedup.py", "test_identity.py",
                  "test_environment_failures.py", "test_input_policy.py", "test_eval_command.py",
                  "test_stages.py"]  # fmt: skip
WORKERS_MAX = 4  # each worker holds a detector and ffmpeg children: more would only trade memory for nothing


def group_of_file(file_name: str) -> str:
    if file_name in RAY_FILES:
        return "ray"
    return "review_split" if file_name in REVIEW_SPLIT_FILES else file_name


def group_of_node(nodeid: str) -> str:
    """`tests/test_x.py::test_y[param]` (and an `@group` suffix, should xdist add one) -> its group."""
    return group_of_file(nodeid.split("::", 1)[0].rsplit("/", 1)[-1])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {group: i for i, group in enumerate(LONGEST_GROUPS)}
    items.sort(key=lambda item: rank.get(group_of_file(item.path.name), len(rank)))  # stable: file order otherwise


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: `-n auto` asks it
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    # A worker more than the cores: with one per core, a sixth of the cores' time sits idle while tests
    # wait (live senders paced like live encoders, Ray and S3 servers starting), which another worker fills.
    return max(1, min((os.cpu_count() or 1) + 1, WORKERS_MAX))


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: the controller asks it for its scheduler
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None  # xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):
        """A group is handed whole to one worker, in collection order (the longest groups first)."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of_node(nodeid)

    config.option.loadscopereorder = False  # xdist would order the groups by their count of tests
    return FileGroupScheduling(config, log)
