"""The output layout (a drop-in for NeMo Curator's downstream) and its JSON records.

OUT/clips/<uuid>.mp4
OUT/metas/v0/<uuid>.json
OUT/frames/<uuid>.npz
OUT/processed_videos/<rel>.json
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import msgspec

from streamclip.contract.types import Clip, EncodedClipInfo, VideoMetadata
from streamclip.errors import UsageError


def check_output_folder(out: Path) -> None:
    """Create `out` if needed and make sure a file can be written in it, or raise `UsageError`
    saying why (before any work starts, so a bad `-o` costs one line, not a traceback)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".streamclip-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to the output folder {out}: {exc.strerror or exc}") from None


def clip_path(out: Path, clip_id: uuid.UUID) -> Path:
    return out / "clips" / f"{clip_id}.mp4"


def meta_path(out: Path, clip_id: uuid.UUID) -> Path:
    return out / "metas" / "v0" / f"{clip_id}.json"


def frames_path(out: Path, clip_id: uuid.UUID) -> Path:
    return out / "frames" / f"{clip_id}.npz"


def video_record_path(out: Path, rel: str) -> Path:
    return out / "processed_videos" / f"{rel}.json"


def finished_clip(out: Path, clip_id: uuid.UUID) -> EncodedClipInfo | None:
    """The encoded-clip facts of a clip already finished in `out`, if any: its file, an error-free
    meta, and the file's size equal to the meta's `num_bytes` (a clip cut short by a power cut
    or a full disk, even an empty one, is made again)."""
    clip_file, meta_file = clip_path(out, clip_id), meta_path(out, clip_id)
    try:
        size = clip_file.stat().st_size
        meta = json.loads(meta_file.read_bytes())
        if not clip_file.is_file():
            return None
    except (OSError, ValueError):
        return None  # missing or unreadable: make the clip again
    return encoded_info(meta, size)


def encoded_info(meta: Any, size: int) -> EncodedClipInfo | None:
    """The encoded-clip facts of a clip's meta when it is error-free and its clip is `size` bytes
    (the local folder's and the object store's resume check)."""
    try:
        if meta.get("errors") or size != meta["num_bytes"]:
            return None
        return EncodedClipInfo(
            width=meta["width"],
            height=meta["height"],
            framerate=meta["framerate"],
            num_frames=meta["num_frames"],
            duration_s=meta["duration_s"],
            video_codec=meta["video_codec"],
            num_bytes=meta["num_bytes"],
        )
    except (ValueError, KeyError, TypeError, AttributeError, msgspec.ValidationError):
        return None  # unreadable: make the clip again


def clip_record(clip: Clip, source: VideoMetadata, location: Path | str | None) -> dict[str, Any]:
    """Curator's per-clip meta, plus the clip's frame span."""
    record: dict[str, Any] = {
        "span_uuid": str(clip.uuid),
        "source_video": clip.source,
        "clip_index": clip.index,
        "duration_span": [clip.span.start_s, clip.span.end_s],
        "frame_span": [clip.span.start_frame, clip.span.end_frame],
        "width_source": source.width,
        "height_source": source.height,
        "framerate_source": source.fps,
        "clip_location": str(location) if location is not None else None,
        "errors": dict(clip.errors),
    }
    if clip.encoded is not None:
        record.update(msgspec.to_builtins(clip.encoded))
    if clip.frames:
        record["frame_signatures"] = sorted(clip.frames)
    return record


def encode_json(record: Any) -> bytes:
    return msgspec.json.format(msgspec.json.encode(record), indent=2) + b"\n"
