"""Writing a video's decisions file (`streamclip.contract.decisions` describes the format) when the
video ends, and a live session's parts as it goes."""

from __future__ import annotations

from typing import Any

from streamclip.actors.messages import VideoJob
from streamclip.contract.decisions import (
    FORMAT_VERSION,
    SceneDecisions,
    decisions_path,
    npy_bytes,
    part_name,
    probabilities_path,
    scene_record,
    stage_drop,
    with_stage_drops,
)
from streamclip.storage.layout import encode_json
from streamclip.storage.outputs import ROOT, OutputStore


def video_record(job: VideoJob, error: str | None, processing_s: float) -> tuple[dict[str, Any], bytes | None]:
    """The decisions record of a finished or failed video, and its probabilities as .npy bytes; the
    clips curation stages dropped are dropped ranges too (`job.stage_drops`)."""
    meta = job.meta
    record: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "source": job.source,
        "rel": job.rel,
        "status": "failed" if error is not None else "done",
        "error": error,
        "fps": meta.fps if meta is not None else None,
        "num_frames": meta.num_frames if meta is not None else None,
        "duration_s": meta.duration_s if meta is not None else None,
        "processing_s": round(processing_s, 3),
    }
    probabilities = None
    if isinstance(job.decisions, SceneDecisions) and meta is not None:
        record.update(
            scene_record(
                job.decisions, job.source, meta.fps, meta.num_frames, failed=error is not None and job.live is None
            )
        )
        probabilities = npy_bytes(job.decisions.probabilities)
        if job.decisions.parts_before:  # a live session's earlier parts, written as it went
            record["parts"] = [f"{part_name(job.rel, n)}.json" for n in range(1, job.decisions.parts_before + 1)]
    elif isinstance(job.decisions, dict):
        record.update(job.decisions)
    else:  # failed before any decision (probing, or decoding the first frames)
        record.update(mode=None, probabilities=False, scenes=[], cuts=[], splits=[], clips=[], dropped=[])
    with_stage_drops(record, [stage_drop(d.index, d.span, d.stage, d.reason, d.fields) for d in job.stage_drops])
    return record, probabilities


def write_decisions(
    store: OutputStore, job: VideoJob, error: str | None, processing_s: float, *, name: str | None = None
) -> None:
    """Place OUT/decisions/<name>.probs.npy (when there are probabilities), then <name>.json.

    `name` is the video's record name (`job.rel` unless another source already holds it).
    """
    name = name or job.rel
    record, probabilities = video_record(job, error, processing_s)
    if probabilities is not None:
        store.write(probabilities_path(ROOT, name), probabilities)
    store.write(decisions_path(ROOT, name), encode_json(record))


def write_part(store: OutputStore, job: VideoJob, part: SceneDecisions) -> None:
    """Place a live session's closed part: OUT/decisions/<rel>.part-NNNNN.probs.npy, then its .json
    (blocking: the span builder runs it in a thread)."""
    assert job.meta is not None
    name = part_name(job.rel, part.parts_before + 1)
    record: dict[str, Any] = {"version": FORMAT_VERSION, "source": job.source, "rel": job.rel, "status": "part",
                              "part": part.parts_before + 1, "error": None, "fps": job.meta.fps}  # fmt: skip
    record.update(scene_record(part, job.source, job.meta.fps, part.end_frame, failed=False))
    store.write(probabilities_path(ROOT, name), npy_bytes(part.probabilities))
    store.write(decisions_path(ROOT, name), encode_json(record))
