#!/usr/bin/env bash
# Set everything up, then run the checks CI runs: ruff, mypy --strict, and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check streamclip tests examples benchmarks
.venv/bin/ruff format --check streamclip tests examples benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
