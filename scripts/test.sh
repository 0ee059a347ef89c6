#!/usr/bin/env bash
# Set everything up, then run the checks CI runs: ruff, mypy --strict, and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check streamclip tests examples benchmarks
.venv/bin/ruff format --check streamclip tests examples benchmarks
.venv/bin/mypy
# A worker per core and one more (at most 4, tests/worker_groups.py), one test file per worker at a time; the 15
# slowest tests are printed so their cost stays visible.
.venv/bin/python -m pytest -n auto --dist loadgroup --durations=15 "$@"
