"""The output layout (a drop-in for NeMo Curator's downstream) and its JSON records.

OUT/clips/<uuid>.mp4
OUT/metas/v0/<uuid>.json                     Curator's clip meta (+ streamclip's own keys)
OUT/frames/<uuid>.npz
OUT/processed_videos/<rel>.json              Curator's video record (+ streamclip's own keys)
OUT/processed_clip_chunks/<rel>_<idx>.json   Curator's record of each chunk of a video's clips

Every key Curator 1.4.0's ClipWriterStage writes is written with its type and meaning
(tests/data/curator-1.4.0/records/ holds records Curator wrote); streamclip's extra facts go under
keys Curator does not use. A chunk is Curator's: the video's clips in index order, cut into groups
whose whole seconds (`int(end_s - start_s)` per clip) add up to `CHUNK_SECONDS` (the last group
may be short). Curator sends each group down its pipeline as a task; streamclip streams every clip
alone and writes the chunk records when the video ends, just before its video record.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from streamclip.contract.types import Clip, EncodedClipInfo, VideoMetadata
from streamclip.errors import UsageError
from streamclip.stages.records import BOOKKEEPING_KEYS, is_dropped, stage_meta


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


def filtered_clip_path(out: Path, clip_id: uuid.UUID) -> Path:
    """Where Curator puts a clip a filter dropped (its meta's `clip_location`; streamclip writes no file)."""
    return out / "filtered_clips" / f"{clip_id}.mp4"


def meta_path(out: Path, clip_id: uuid.UUID) -> Path:
    return out / "metas" / "v0" / f"{clip_id}.json"


def frames_path(out: Path, clip_id: uuid.UUID) -> Path:
    return out / "frames" / f"{clip_id}.npz"


def video_record_path(out: Path, rel: str) -> Path:
    return out / "processed_videos" / f"{rel}.json"


def chunk_record_path(out: Path, rel: str, index: int) -> Path:
    return out / "processed_clip_chunks" / f"{rel}_{index}.json"


class FinishedClip(NamedTuple):
    """A clip already finished in the output: its encoded facts and its meta (with what its stages
    recorded; `streamclip.stages.records`)."""

    info: EncodedClipInfo
    meta: dict[str, Any]


def finished_clip(out: Path, clip_id: uuid.UUID) -> FinishedClip | None:
    """A clip already finished in `out`, if any: an error-free meta and its file, of the size the
    meta's `num_bytes` says (a clip cut short by a power cut or a full disk, even an empty one, is
    made again); or the meta alone of a clip a stage dropped (it has no file)."""
    clip_file, meta_file = clip_path(out, clip_id), meta_path(out, clip_id)
    try:
        meta = json.loads(meta_file.read_bytes())
        if isinstance(meta, dict) and is_dropped(meta):
            return finished_meta(meta, None)
        size = clip_file.stat().st_size
        if not clip_file.is_file():
            return None
    except (OSError, ValueError):
        return None  # missing or unreadable: make the clip again
    return finished_meta(meta, size)


def finished_meta(meta: Any, size: int | None) -> FinishedClip | None:
    """A finished clip from its meta and its file's size (None: no file, which only a dropped
    clip's meta may lack); None when the meta has errors or does not match."""
    if not isinstance(meta, dict) or (size is None) != is_dropped(meta):
        return None
    info = encoded_info(meta, meta.get("num_bytes", -1) if size is None else size)
    return FinishedClip(info, meta) if info is not None else None


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


def clip_record(clip: Clip, source: VideoMetadata, location: str) -> dict[str, Any]:
    """Curator's clip meta, then streamclip's own keys (the clip's index and frame span, duration,
    error messages, frame signatures). `location` is where the clip goes, written even when the
    clip failed and has no file (as Curator does)."""
    width, height = stream_size(source)
    record: dict[str, Any] = {
        "span_uuid": str(clip.uuid),
        "source_video": clip.source,
        "duration_span": [clip.span.start_s, clip.span.end_s],
        "width_source": width,
        "height_source": height,
        "framerate_source": source.fps,
        "clip_location": location,
    }
    encoded = clip.encoded
    if encoded is not None:  # Curator: when the clip has bytes, what ffprobe says of them
        record.update(
            width=encoded.width, height=encoded.height, framerate=encoded.framerate,
            num_frames=encoded.num_frames, video_codec=encoded.video_codec, num_bytes=encoded.num_bytes,
        )  # fmt: skip
    if clip.errors:
        record["errors"] = list(clip.errors)  # Curator: the names of the stages that failed, only if any
    windows: list[dict[str, Any]] = []  # Curator's caption windows: streamclip makes none
    record["windows"] = windows
    record["valid"] = bool(encoded is not None and windows)  # Curator: bytes and at least one window
    record["clip_index"] = clip.index
    record["frame_span"] = [clip.span.start_frame, clip.span.end_frame]
    if encoded is not None:
        record["duration_s"] = encoded.duration_s
    if clip.errors:
        record["error_messages"] = dict(clip.errors)
    if clip.frames:
        record["frame_signatures"] = sorted(clip.frames)
    record.update(stage_meta(clip))  # curation stages' fields, and what resume needs of them
    return record


# Every key `clip_record` may write (a live source's clips add theirs): a stage may not add one.
META_KEYS = frozenset({
    "span_uuid", "source_video", "duration_span", "width_source", "height_source", "framerate_source",
    "clip_location", "width", "height", "framerate", "num_frames", "video_codec", "num_bytes", "errors",
    "windows", "valid", "clip_index", "frame_span", "duration_s", "error_messages", "frame_signatures",
    "session_start", "wall_clock_start", *BOOKKEEPING_KEYS,
})  # fmt: skip


def clip_error_messages(meta: dict[str, Any]) -> dict[str, str]:
    """A clip meta's errors, stage -> message: `error_messages`, the dict `errors` of metas written
    before Curator's layout, or Curator's list of stage names (no message)."""
    messages = meta.get("error_messages")
    if not isinstance(messages, dict):
        messages = meta.get("errors") or {}
    if isinstance(messages, dict):
        return {str(stage): str(message) for stage, message in messages.items()}
    return {str(stage): "" for stage in messages}


def stream_size(meta: VideoMetadata) -> tuple[int, int]:
    """Width and height as ffprobe gives them for the stream (Curator's `width`/`height`): before
    the display rotation that `VideoMetadata` applies."""
    if meta.rotation in (90, 270):
        return meta.height, meta.width
    return meta.width, meta.height


def video_record(
    source: str, meta: VideoMetadata | None, *, num_total_clips: int, num_clip_chunks: int
) -> dict[str, Any]:
    """Curator's flat video record (`processed_videos/<rel>.json`); None for what is not known (a
    video that failed before it was probed)."""
    width, height = stream_size(meta) if meta is not None else (None, None)
    return {
        "video": source,
        "height": height,
        "width": width,
        "framerate": meta.fps if meta is not None else None,
        "num_frames": meta.num_frames if meta is not None else None,
        "duration": meta.duration_s if meta is not None else None,
        "video_codec": meta.video_codec if meta is not None else None,
        "pixel_format": meta.pixel_format if meta is not None else None,
        "audio_format": meta.audio_codec if meta is not None else None,
        "num_total_clips": num_total_clips,
        "num_clip_chunks": num_clip_chunks,
    }


# Curator's ClipTranscodingStage: `num_clips_per_chunk` (32) x 8 seconds of clips per chunk.
CHUNK_SECONDS = 32 * 8


class ChunkClip(NamedTuple):
    """What a chunk record says of one clip."""

    clip_index: int
    uuid: str
    duration_s: float  # end_s - start_s of its span
    transcoded: bool  # it has an encoded file
    dropped: bool = False  # a curation stage filtered it out (Curator's `filtered_clips`)
    counters: tuple[str, ...] = ()  # ClipStats counters its stages added 1 to


def clip_chunks(clips: Iterable[ChunkClip], chunk_seconds: int = CHUNK_SECONDS) -> list[list[ChunkClip]]:
    """Curator's chunks: in index order, a chunk closes once the whole seconds of its clips reach
    `chunk_seconds`; what is left is the last chunk. No clip, no chunk."""
    chunks: list[list[ChunkClip]] = [[]]
    seconds = 0
    for clip in sorted(clips):
        chunks[-1].append(clip)
        seconds += int(clip.duration_s)
        if seconds >= chunk_seconds:
            chunks.append([])
            seconds = 0
    return [chunk for chunk in chunks if chunk]


def chunk_record(source: str, index: int, clips: list[ChunkClip]) -> dict[str, Any]:
    """Curator's record of one chunk: its clip stats (ClipStats, summed in clip order; the
    durations over kept and filtered clips, as Curator's), its clips' ids (a dropped clip's under
    `filtered_clips`), and its caption windows (none)."""
    kept = [clip for clip in clips if not clip.dropped]
    total, longest = 0.0, 0.0
    for clip in clips:
        total += clip.duration_s
        longest = max(longest, clip.duration_s)

    def counted(counter: str) -> int:
        return sum(counter in clip.counters for clip in clips)

    return {
        "video": source,
        "clip_chunk_index": index,
        "num_clips_filtered_by_motion": counted("num_filtered_by_motion"),
        "num_clips_filtered_by_aesthetic": counted("num_filtered_by_aesthetic"),
        "num_clips_passed": len(kept),
        "num_clips_transcoded": sum(clip.transcoded for clip in clips),
        "num_clips_with_embeddings": counted("num_with_embeddings"),
        "num_clips_with_caption": counted("num_with_caption"),
        "num_clips_with_webp": counted("num_with_webp"),
        "total_clip_duration": total,
        "max_clip_duration": longest,
        "clips": [clip.uuid for clip in kept],
        "filtered_clips": [clip.uuid for clip in clips if clip.dropped],
        "all_windows": {clip.uuid: {} for clip in kept},
        "all_windows_enhanced_caption": {clip.uuid: {} for clip in kept},
    }


def encode_json(record: Any) -> bytes:
    return msgspec.json.format(msgspec.json.encode(record), indent=2) + b"\n"
