#!/usr/bin/env bash
# Quick start: set everything up, then split the bundled sample video into ./out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/streamclip split examples/sample.mp4 -o out "$@"
echo "clips:  $(ls out/clips | wc -l) in out/clips/ (metas in out/metas/v0/, video records in out/processed_videos/)"
echo "review: .venv/bin/streamclip report out  (then open out/report/index.html)"
