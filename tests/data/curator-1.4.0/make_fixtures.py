"""Make the Curator 1.4.0 fixtures beside this file. Run with the python of a virtual environment
that has `nemo-curator[video-cpu]==1.4.0` installed (benchmarks/README.md says how), never in tests.

    python make_fixtures.py fixed-stride
        -> fixed_stride.json: Curator's own FixedStrideExtractorStage.process on a grid of
           (duration, frame rate, clip_len_s, clip_stride_s, min_clip_length_s, limit_clips)
    python make_fixtures.py records CURATOR_INPUT CURATOR_OUTPUT
        -> records/: one of each JSON record Curator's ClipWriterStage wrote in a real split run
           (benchmarks/curator_split.py), plus a failed clip's meta written by the same stage
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import shutil
import sys
import tempfile
import uuid
from importlib import metadata
from typing import Any

HERE = pathlib.Path(__file__).parent
SOURCE = "/videos/case.mp4"  # the source name the clip ids are made of

# avg_frame_rate as ffprobe writes it -> Curator's float: num / denom
RATES = ["24/1", "25/1", "30000/1001", "60/1"]
DURATIONS = [0.5, 1.9, 2.0, 9.99, 10.01, 16.0, 20.02, 33.3667]
SETTINGS = [  # clip_len_s, clip_stride_s, min_clip_length_s, limit_clips
    (10.0, 10.0, 2.0, 0),  # Curator's defaults (its split example passes the duration as both)
    (10.0, 10.0, 0.0, 0),
    (5.0, 2.5, 1.0, 0),  # overlapping
    (4.0, 6.0, 2.0, 0),  # gaps
    (2.3, 2.3, 0.5, 0),  # a stride that binary floats cannot hold
    (1.1, 0.7, 0.3, 0),
    (3.0, 3.0, 3.0, 0),  # only whole clips
    (10.0, 10.0, 2.0, 2),  # limit_clips
]


def versions() -> dict[str, str]:
    names = ["nemo-curator", "torch", "ray", "av", "cosmos-xenna"]
    found = {name: metadata.version(name) for name in names}
    found["python"] = platform.python_version()
    return found


def curator_fixed_stride(duration: float, rate: str, settings: tuple[float, float, float, int]) -> dict[str, Any]:
    from nemo_curator.stages.video.clipping.clip_extraction_stages import FixedStrideExtractorStage
    from nemo_curator.tasks.video import Video, VideoMetadata, VideoTask

    num, denom = map(int, rate.split("/"))
    fps = num / denom  # as Curator's extract_video_metadata
    meta = VideoMetadata(
        size=1,
        height=360,
        width=640,
        framerate=fps,
        num_frames=int(duration * fps),  # as Curator's extract_video_metadata
        duration=duration,
        video_codec="h264",
        pixel_format="yuv420p",
    )
    video = Video(input_video=pathlib.Path(SOURCE), source_bytes=b"\0", metadata=meta)
    clip_len, stride, min_len, limit = settings
    stage = FixedStrideExtractorStage(
        clip_len_s=clip_len, clip_stride_s=stride, min_clip_length_s=min_len, limit_clips=limit
    )
    task = stage.process(VideoTask(dataset_name="fixture", data=video))
    clips = task.data.clips
    return {
        "duration_s": duration,
        "fps": fps,
        "clip_len_s": clip_len,
        "clip_stride_s": stride,
        "min_clip_length_s": min_len,
        "limit_clips": limit,
        "spans": [list(clip.span) for clip in clips],
        "frames": [[int(a * fps), int(b * fps)] for a, b in (clip.span for clip in clips)],
        "uuids": [str(clip.uuid) for clip in clips],
    }


def fixed_stride() -> None:
    cases = [curator_fixed_stride(d, r, s) for r in RATES for d in DURATIONS for s in SETTINGS]
    for case in cases:  # the frames above are our reading; the ids are Curator's: they must agree
        expected = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SOURCE}_{a}_{b}")) for a, b in case["frames"]]
        assert case["uuids"] == expected, case
        del case["uuids"]
    out = {"source": SOURCE, "versions": versions(), "cases": cases}
    (HERE / "fixed_stride.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"{len(cases)} cases, {sum(len(c['spans']) for c in cases)} clips")


def records(curator_input: pathlib.Path, curator_output: pathlib.Path) -> None:
    """One record of each kind as Curator wrote it, with the run's folders renamed /videos and /out
    (string values stay strings: the keys and types are what the tests read)."""
    target = HERE / "records"
    shutil.rmtree(target, ignore_errors=True)
    renames = {str(curator_input.resolve()): "/videos", str(curator_output.resolve()): "/out"}
    for sub in ("processed_videos", "processed_clip_chunks", "metas/v0"):
        found = sorted((curator_output / sub).rglob("*.json"))[0]
        (target / sub).mkdir(parents=True)
        record = rename(json.loads(found.read_text()), renames)
        (target / sub / found.name).write_text(json.dumps(record, indent=4))  # as Curator's write_json
    failed_clip_meta(target / "metas" / "v0")
    (target / "versions.json").write_text(json.dumps(versions(), indent=2) + "\n")


def rename(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, str):
        for old, new in renames.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [rename(item, renames) for item in value]
    if isinstance(value, dict):
        return {rename(key, renames): rename(item, renames) for key, item in value.items()}
    return value


def failed_clip_meta(folder: pathlib.Path) -> None:
    """A clip whose transcode failed, written by Curator's own ClipWriterStage (a real run makes
    none on good input): `clip.errors` as ClipTranscodingStage sets it, no buffer."""
    from nemo_curator.stages.video.io.clip_writer import ClipWriterStage
    from nemo_curator.tasks.video import Clip, VideoMetadata

    with tempfile.TemporaryDirectory() as tmp:
        stage = ClipWriterStage(
            output_path=tmp, input_path="/videos", upload_clips=True, dry_run=False,
            generate_embeddings=False, generate_previews=False, generate_captions=False,
            caption_models=["qwen"], enhanced_caption_models=["qwen_lm"],
        )  # fmt: skip
        stage.setup()
        clip = Clip(uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"{SOURCE}_0_250"), source_video=SOURCE, span=(0.0, 10.0))
        clip.errors["transcode"] = "ffmpeg exited 1"
        meta = VideoMetadata(height=360, width=640, framerate=25.0, num_frames=400, duration=16.0)
        stage._write_clip_metadata(clip, meta)
        written = next(pathlib.Path(tmp, "metas", "v0").glob("*.json"))
        record = rename(json.loads(written.read_text()), {tmp: "/out"})
        (folder / f"failed-{written.name}").write_text(json.dumps(record, indent=4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("fixed-stride")
    rec = sub.add_parser("records")
    rec.add_argument("curator_input", type=pathlib.Path)
    rec.add_argument("curator_output", type=pathlib.Path)
    args = parser.parse_args()
    if args.what == "fixed-stride":
        fixed_stride()
    else:
        records(args.curator_input, args.curator_output)


if __name__ == "__main__":
    sys.exit(main())
