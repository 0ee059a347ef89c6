"""Where finished files go: a local folder (as it always was) or an `s3://bucket/prefix`.

Both hold the same layout (`streamclip.storage.layout`); names are relative paths (`clips/<uuid>.mp4`),
made with the layout's own functions on an empty root (`clip_path(Path(), id)`). Clips are
encoded in a local work folder either way (`Workspace`) and then put in place:

- `LocalOutput`: write to a temporary name, fsync, rename (stages' files, frames, meta, then the
  clip; the clip's rename is the commit: `finished_clip` wants both), exactly as before.
- `S3Output`: one PUT per file (a multipart upload above `storage.multipart_chunk_mb`), the clip
  first, stages' files, its frames, then its meta, so a meta always names objects that exist. S3 makes an
  object visible only once its upload is complete, so nothing half-written is ever under a final
  key; a failed multipart upload is aborted by the client. The work folder is a local temporary one.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from streamclip.contract.identity import record_name, source_hash
from streamclip.errors import Reason, UsageError
from streamclip.stages.records import is_dropped
from streamclip.storage import s3
from streamclip.storage.layout import (
    FinishedClip,
    check_output_folder,
    clip_path,
    finished_clip,
    finished_meta,
    frames_path,
    meta_path,
)
from streamclip.storage.workspace import move_atomic, write_atomic

if TYPE_CHECKING:
    from obstore.store import S3Store

ROOT = Path()
Placed = tuple[Path, str]  # a name in the layout, the finished work file to put there
Written = tuple[Path, bytes]  # a name in the layout, its content


class OutputStore(Protocol):
    """A place for the output layout. Every method blocks: callers run them in a thread."""

    work_parent: Path | None  # where the work folder goes (inside the output when it is local)

    def location(self, rel: Path) -> str: ...
    def finished_clip(self, clip_id: uuid.UUID) -> FinishedClip | None: ...
    def place_clip(
        self, clip: Placed | None, frames: Written | None, meta: Written, files: Sequence[Written] = ()
    ) -> None: ...
    def write(self, rel: Path, data: bytes) -> None: ...
    def delete(self, rels: Iterable[Path]) -> None: ...
    def discard_clip(self, clip_id: uuid.UUID, files: Iterable[Path] = ()) -> None: ...
    def record_name(self, rel: str, source: str) -> str: ...


def open_output(target: str | Path | None) -> OutputStore | None:
    """The store `target` names (an `s3://` URL or a folder), None for no output."""
    if target is None:
        return None
    text = str(target)
    if s3.is_s3(text):
        return S3Output(text)
    return LocalOutput(Path(target))


def output_url(target: str | os.PathLike[str]) -> str | Path:
    """`target` as given for S3, a Path for a folder (the CLI's and API's `-o`)."""
    text = os.fspath(target)
    return text if s3.is_s3(text) else Path(text)


def check_output(target: str | Path) -> None:
    """`output.check_output_folder` for a folder; for an S3 prefix, one listing call, so a missing
    bucket or refused credentials cost one line (UsageError) before any work starts."""
    if not s3.is_s3(str(target)):
        check_output_folder(Path(target))
        return
    try:
        S3Output(str(target)).check()
    except (s3.StorageError, ValueError) as exc:
        raise UsageError(f"cannot write to the output {exc}") from None


class LocalOutput:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.work_parent: Path | None = root

    def location(self, rel: Path) -> str:
        return str(self.root / rel)

    def finished_clip(self, clip_id: uuid.UUID) -> FinishedClip | None:
        return finished_clip(self.root, clip_id)

    def place_clip(
        self, clip: Placed | None, frames: Written | None, meta: Written, files: Sequence[Written] = ()
    ) -> None:
        for rel, data in files:  # stages' extra outputs, before the meta that names their clip
            write_atomic(self.root / rel, data)
        if frames is not None:
            write_atomic(self.root / frames[0], frames[1])
        write_atomic(self.root / meta[0], meta[1])
        if clip is not None:
            move_atomic(clip[1], self.root / clip[0], synced=True)  # the transcoder fsynced it

    def write(self, rel: Path, data: bytes) -> None:
        write_atomic(self.root / rel, data)

    def delete(self, rels: Iterable[Path]) -> None:
        """Remove files that may be there (a clip an earlier run kept that a stage now drops)."""
        for rel in rels:
            (self.root / rel).unlink(missing_ok=True)

    def discard_clip(self, clip_id: uuid.UUID, files: Iterable[Path] = ()) -> None:
        """After a failed placement: its meta, frames and stages' files go (the clip's rename comes last)."""
        for rel in (meta_path(ROOT, clip_id), frames_path(ROOT, clip_id), *files):
            with contextlib.suppress(OSError):
                (self.root / rel).unlink(missing_ok=True)

    def record_name(self, rel: str, source: str) -> str:
        return record_name(self.root, rel, source)


class S3Output:
    def __init__(self, url: str) -> None:
        self.prefix = s3.parse(url)
        self.url = self.prefix.url.rstrip("/")
        self.work_parent: Path | None = None

    def location(self, rel: Path) -> str:
        return self.prefix.child(rel.as_posix()).url

    def _key(self, rel: Path) -> str:
        return self.prefix.child(rel.as_posix()).key

    def _client(self) -> S3Store:
        return s3.store(self.prefix.bucket)

    def check(self) -> None:
        """List one key of the prefix: a missing bucket or bad credentials fail here, before any work."""
        import obstore

        try:
            next(iter(obstore.list(self._client(), prefix=self.prefix.key or None, chunk_size=1)), None)
        except Exception as exc:
            raise s3.storage_error(exc, self.url) from None

    def finished_clip(self, clip_id: uuid.UUID) -> FinishedClip | None:
        """Mirror of `layout.finished_clip`: an error-free meta and a clip object of its `num_bytes`
        (or the meta alone of a clip a stage dropped)."""
        import obstore

        try:
            meta = json.loads(bytes(obstore.get(self._client(), self._key(meta_path(ROOT, clip_id))).bytes()))
            if isinstance(meta, dict) and is_dropped(meta):
                return finished_meta(meta, None)
            size = int(obstore.head(self._client(), self._key(clip_path(ROOT, clip_id)))["size"])
        except Exception:  # missing, unreadable or unreachable: make the clip again
            return None
        return finished_meta(meta, size)

    def place_clip(
        self, clip: Placed | None, frames: Written | None, meta: Written, files: Sequence[Written] = ()
    ) -> None:
        if clip is not None:
            self._upload(clip[0], Path(clip[1]))
            Path(clip[1]).unlink(missing_ok=True)
        for written in files:
            self.write(*written)
        if frames is not None:
            self.write(*frames)
        self.write(*meta)

    def _upload(self, rel: Path, local: Path) -> None:
        import obstore

        chunk = s3.multipart_chunk_bytes()
        try:
            obstore.put(self._client(), self._key(rel), local, chunk_size=chunk, max_concurrency=4)
        except Exception as exc:
            raise _as_os_error(s3.storage_error(exc, self.location(rel))) from None

    def write(self, rel: Path, data: bytes) -> None:
        import obstore

        try:
            obstore.put(self._client(), self._key(rel), data)
        except Exception as exc:
            raise _as_os_error(s3.storage_error(exc, self.location(rel))) from None

    def delete(self, rels: Iterable[Path]) -> None:
        """Remove objects that may be there (a clip an earlier run kept that a stage now drops)."""
        import obstore

        for rel in rels:
            try:
                obstore.delete(self._client(), self._key(rel))
            except Exception as exc:
                error = s3.storage_error(exc, self.location(rel))
                if error.kind is not Reason.MISSING:
                    raise _as_os_error(error) from None

    def discard_clip(self, clip_id: uuid.UUID, files: Iterable[Path] = ()) -> None:
        """After a failed placement: whatever of it was uploaded goes (best effort: the server may be gone)."""
        import obstore

        for rel in (meta_path(ROOT, clip_id), frames_path(ROOT, clip_id), clip_path(ROOT, clip_id), *files):
            with contextlib.suppress(Exception):
                obstore.delete(self._client(), self._key(rel))

    def remove_clip(self, clip_id: uuid.UUID) -> None:
        """Delete a clip's objects, the clip first (an outdated source's); OSError when one cannot be."""
        import obstore

        for rel in (clip_path(ROOT, clip_id), meta_path(ROOT, clip_id), frames_path(ROOT, clip_id)):
            try:
                obstore.delete(self._client(), self._key(rel))
            except Exception as exc:
                error = s3.storage_error(exc, self.location(rel))
                if error.kind is not Reason.MISSING:  # already gone: removed
                    raise _as_os_error(error) from None

    def record_name(self, rel: str, source: str) -> str:
        """`rel`, or `rel~<hash>` when its record is another source's. The name is free only when its
        record is not found: one that cannot be read (a server gone, access denied) is an OSError,
        and the video fails rather than write over a record that may be another source's."""
        import obstore

        record = ROOT / "processed_videos" / f"{rel}.json"
        try:
            data = bytes(obstore.get(self._client(), self._key(record)).bytes())
        except Exception as exc:
            error = s3.storage_error(exc, self.location(record))
            if error.kind is Reason.MISSING:
                return rel
            raise _as_os_error(error) from None
        try:
            owner = json.loads(data).get("video")
        except (ValueError, AttributeError):
            owner = None  # not a record: as for a folder (`identity.record_name`), the name is taken over
        return rel if owner in (None, source) else f"{rel}~{source_hash(source)}"


def _as_os_error(error: s3.StorageError) -> OSError:
    """The writer treats every output failure as an OSError (the clip fails, the run goes on)."""
    return OSError(str(error))
