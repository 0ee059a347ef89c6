"""What the preview and dedup stages add to a split at 720p: CPU-seconds per clip second.

    .venv/bin/python benchmarks/preview_bench.py [--rounds 1] [--seconds 30] [--size 1280x720]
    .venv/bin/python benchmarks/preview_bench.py --quick      # 8 s of video (a smoke run)

Generates a 720p30 video of lavfi scenes with hard cuts (cached under benchmarks/.cache/) and, each
round:

- `split`: `streamclip split` with the default profile (stages off), in its own process; its
  CPU-seconds are those of the child and everything it reaped (ffmpeg), from `wait4`;
- `preview`: in this process, the preview stage's encode of every clip written (an ffmpeg child
  per clip: Curator's 1 fps, 240 px, libwebp q 50), CPU of the children from `getrusage`;
- `dedup (frames)`: the hash of each clip from 2 fps frames at 720p (what the frame extractor of
  the default profile already holds: only the hash is counted, not the decode);
- `dedup (decode)`: the same with frames off: the stage decodes those frames itself (ffmpeg at
  256 px wide) and hashes them;
- `split+stages`: the same split with `dedup.enabled=true` and `preview.enabled=true`, to check end
  to end that the stages add what was measured alone.

Figures are per second of clip written, the ratio to the split's, the median over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline_bench import CACHE, cpu_flags_line, make_video, split_cpu_seconds

from streamclip.config import DedupConfig, PreviewConfig
from streamclip.contract.types import Clip, EncodedClipInfo, Span
from streamclip.ffmpeg import children
from streamclip.ffmpeg.argv import frames_argv
from streamclip.ffmpeg.probe import probe
from streamclip.stages.dedup import DECODE_FPS, DedupStage
from streamclip.stages.perceptual_hash import clip_hash
from streamclip.stages.preview import PreviewStage

STAGES_ON = ["--set", "dedup.enabled=true", "--set", "preview.enabled=true"]


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def clips_of(out: Path) -> list[tuple[Clip, Path]]:
    found = []
    for path in sorted((out / "clips").glob("*.mp4")):
        meta = await probe(str(path))
        span = Span.from_frames(0, meta.num_frames, meta.fps)
        info = EncodedClipInfo.from_metadata(meta)
        clip = Clip(uuid=uuid.UUID(path.stem), source=str(path), index=0, span=span, encoded=info)
        found.append((clip, path))
    return found


async def stage_costs(out: Path) -> dict[str, float]:
    clips = await clips_of(out)
    seconds = sum(clip.span.duration_s for clip, _ in clips)
    preview = PreviewStage(PreviewConfig(enabled=True))
    before = cpu(resource.RUSAGE_CHILDREN) + cpu(resource.RUSAGE_SELF)
    for clip, path in clips:
        await preview.encode(path, clip)
    preview_s = cpu(resource.RUSAGE_CHILDREN) + cpu(resource.RUSAGE_SELF) - before

    hash_s = 0.0
    for clip, path in clips:  # the frames the extractor holds (2 fps, full size): only the hash counts
        assert clip.encoded is not None
        argv = frames_argv(str(path), DECODE_FPS)
        done = await children.run(argv, timeout_s=600)
        frames = np.frombuffer(done.stdout, np.uint8).reshape(-1, clip.encoded.height, clip.encoded.width, 3)
        started = cpu(resource.RUSAGE_SELF)
        clip_hash(frames)
        hash_s += cpu(resource.RUSAGE_SELF) - started

    dedup = DedupStage(DedupConfig(enabled=True))
    before = cpu(resource.RUSAGE_CHILDREN) + cpu(resource.RUSAGE_SELF)
    for clip, path in clips:
        clip_hash(await dedup.frames_of(clip, path))
    decode_s = cpu(resource.RUSAGE_CHILDREN) + cpu(resource.RUSAGE_SELF) - before
    await dedup.close()
    return {"clip_s": seconds, "clips": len(clips), "preview": preview_s / seconds,
            "dedup (frames)": hash_s / seconds, "dedup (decode)": decode_s / seconds}  # fmt: skip


def one_round(video: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=CACHE) as plain, tempfile.TemporaryDirectory(dir=CACHE) as staged:
        split = split_cpu_seconds(video, Path(plain), [])
        result = asyncio.run(stage_costs(Path(plain)))
        both = split_cpu_seconds(video, Path(staged), STAGES_ON)
        metas = [json.loads(p.read_text()) for p in (Path(staged) / "metas" / "v0").glob("*.json")]
        result["previews"] = sum("preview" in m for m in metas)
    result.update(split=split / result["clip_s"], **{"split+stages": both / result["clip_s"]})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--quick", action="store_true", help="8 s of video, one round")
    args = parser.parse_args()
    rounds, seconds = (1, 8.0) if args.quick else (args.rounds, args.seconds)
    CACHE.mkdir(exist_ok=True)
    video = make_video(CACHE / f"stages_{args.size}_{seconds:g}s.mp4", seconds=seconds, size=args.size, fps=30)
    print(f"video {video.name}; CPU flags: {cpu_flags_line()}", flush=True)
    keys = ("split", "preview", "dedup (frames)", "dedup (decode)", "split+stages")
    results = []
    for number in range(rounds):
        result = one_round(video)
        results.append(result)
        figures = ", ".join(f"{key} {result[key]:.4f}" for key in keys)
        print(f"  round {number + 1}: {result['clips']} clips ({result['previews']} previews end to end), "
              f"{result['clip_s']:.1f} clip-s; CPU-s per clip-s: {figures}", flush=True)  # fmt: skip
    median = {key: statistics.median(r[key] for r in results) for key in keys}
    for key in ("preview", "dedup (frames)", "dedup (decode)"):
        print(f"{key} adds {median[key]:.4f} CPU-s per clip-s = {median[key] / median['split']:.2%} of the split's "
              f"{median['split']:.3f}")  # fmt: skip
    end_to_end = median["split+stages"] - median["split"]
    print(f"end to end (dedup with the extractor's frames + preview): +{end_to_end:.4f} CPU-s per clip-s, "
          f"{end_to_end / median['split']:+.1%}  [{args.size}, {cpu_flags_line()}]")  # fmt: skip


if __name__ == "__main__":
    main()
