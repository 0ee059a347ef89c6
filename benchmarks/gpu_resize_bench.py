"""How far the `pynvc` path's 48x27 frames are from ffmpeg's (README "GPU"), measured on the CPU.

NVDEC hands over full-size RGB; streamclip scales it with torch (`detector/cuda.py`). This decodes
lavfi cut videos at three sizes with ffmpeg, full size and 48x27 (the CPU decoder's argv), scales the
full-size frames with each torch mode, and prints the mean and 99th percentile of |difference| in
levels: the mode with the smallest mean is the one `resize_for_detector` uses.

    PYTHONPATH=. .venv/bin/python benchmarks/gpu_resize_bench.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as functional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import media

from streamclip.ffmpeg.argv import decode_argv
from streamclip.ffmpeg.probe import probe_sync

MODES = [("bicubic", True), ("bicubic", False), ("bilinear", True), ("area", False)]


def frames(path: Path, *, small: bool) -> np.ndarray:
    meta = probe_sync(path)
    argv = decode_argv(meta)
    if not small:
        at = argv.index("-s")
        argv = argv[:at] + argv[at + 2 :]
    out = subprocess.run(argv, capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, *((27, 48) if small else (meta.height, meta.width)), 3)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        print("size     mode            mean |d|  p99 |d|")
        for size in ("160x90", "320x180", "640x360"):
            video = media.make_cut_video(Path(folder) / f"{size}.mp4", scenes=media.DEFAULT_SCENES[:4], size=size)
            reference = frames(video.path, small=True).astype(np.float64)
            planes = torch.from_numpy(frames(video.path, small=False).copy()).permute(0, 3, 1, 2).float()
            for mode, antialias in MODES:
                options = {} if mode == "area" else {"align_corners": False, "antialias": antialias}
                scaled = functional.interpolate(planes, size=(27, 48), mode=mode, **options)
                mine = scaled.round().clamp(0, 255).permute(0, 2, 3, 1).numpy()
                d = np.abs(mine - reference)
                label = f"{mode}{' aa' if antialias else ''}"
                print(f"{size:8} {label:14} {d.mean():9.2f} {np.percentile(d, 99):8.0f}")


if __name__ == "__main__":
    main()
