"""`streamclip report s3://bucket/prefix`: the review site of an S3 output, written to `prefix/report/`.

The site is built by `build_report` exactly as for a folder, in a local cache that mirrors the
small records it reads (processed_videos/, decisions/, metas/) and the site itself (report/):

- each mirrored file gets its object's modification time, and the pages' signatures name files
  relative to the output, so an unchanged video keeps its signature in any cache folder and its
  page is not made again. The site's state is rebuilt from the stamps of the pages mirrored
  (`review.state`): a `.state.json` in the bucket is never read, since anyone who can write there
  could otherwise name files of this machine to remove. A listed name that would land outside
  the cache folder is skipped;
- clips are not downloaded: each clip object is a small marker `clips/<uuid>.mp4` in the cache
  (its ETag and size, with the object's time), and a poster is grabbed from the clip object
  through a presigned URL (ffmpeg reads the byte ranges it needs);
- then every file of report/ that is new or changed is uploaded (pages and images first, then the
  index), and objects of pages that are gone are deleted. One PUT per file: S3 shows an object
  only once it is complete.

`.mirror.json` in the cache remembers each object's ETag and the local file's size and time:
with `--cache DIR` kept between runs, a second run downloads only what changed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamclip.errors import UsageError
from streamclip.review.serving import CONTENT_TYPES
from streamclip.review.site import REPORT_DIR, ReportResult, build_report
from streamclip.review.state import STATE_FILE, state_from_pages, write_state
from streamclip.storage import s3
from streamclip.storage.layout import clip_path
from streamclip.storage.workspace import write_atomic

if TYPE_CHECKING:
    from obstore.store import S3Store

log = logging.getLogger(__name__)

MIRRORED = ("processed_videos/", "decisions/", "metas/", f"{REPORT_DIR}/")
MARKED = "clips/"  # listed only: a marker per object
MANIFEST = ".mirror.json"
_TEMP = re.compile(r"\..+\.[0-9a-f]{8}\.tmp(\.jpg)?")  # write_atomic's and thumbs' names in progress
Seen = dict[str, list[Any]]  # name under the prefix -> [etag, local size, local mtime_ns]


class S3Site:
    """The review site of one `s3://bucket/prefix` output, built in `cache` (a folder of its own)."""

    def __init__(self, url: str, cache: Path) -> None:
        self.where = s3.parse(url)
        self.url = self.where.url.rstrip("/")
        self.cache = cache
        self.seen: Seen = _read_manifest(cache / MANIFEST)

    def _client(self) -> S3Store:
        return s3.store(self.where.bucket)

    def _key(self, name: str) -> str:
        return self.where.child(name).key

    def clip_url(self, clip_id: uuid.UUID) -> str:
        return self.where.child(clip_path(Path(), clip_id).as_posix()).url

    def mirror(self) -> int:
        """Bring the cache up to the bucket (blocking); the number of objects downloaded."""
        listed = {name: entry for prefix in (*MIRRORED, MARKED) for name, entry in self._list(prefix)}
        listed = {name: entry for name, entry in listed.items() if self._mirrorable(name)}
        if not any(name.startswith("processed_videos/") for name in listed):
            raise UsageError(f"{self.url} is not a streamclip output (no processed_videos/ under it)")
        fetched = 0
        for name, entry in sorted(listed.items()):
            etag, local = entry.get("e_tag") or "", self.cache / name
            if self._unchanged(name, etag):
                continue
            if name.startswith(MARKED):
                data = f"{etag} {entry['size']}\n".encode()  # a marker, not the clip
            else:
                data = self._get(name)
                fetched += 1
            write_atomic(local, data)
            stamp = entry["last_modified"].timestamp()
            os.utime(local, (stamp, stamp))
            self._remember(name, etag)
        for name in set(self.seen) - listed.keys():  # gone from the bucket: gone from the cache
            (self.cache / name).unlink(missing_ok=True)
            del self.seen[name]
        self._save()
        root = self.cache / REPORT_DIR
        write_state(root, state_from_pages(root))
        return fetched

    def _mirrorable(self, name: str) -> bool:
        """Not the bucket's state file (never trusted), and a name that stays inside the cache."""
        if name == f"{REPORT_DIR}/{STATE_FILE}":
            return False
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts) or "\\" in name or "\x00" in name:
            log.warning("review: %s: object name %r not mirrored (it would leave the cache folder)", self.url, name)
            return False
        return True

    def upload(self) -> tuple[int, int]:
        """Put what `build_report` made or changed in the cache's report/ and delete what it removed
        (blocking); (files uploaded, objects deleted)."""
        import obstore

        root = self.cache / REPORT_DIR
        files = [p for p in root.rglob("*") if p.is_file() and not _TEMP.fullmatch(p.name) and p.name != STATE_FILE]
        names = [p.relative_to(self.cache).as_posix() for p in files]
        last = {f"{REPORT_DIR}/index.html": 1}
        changed = sorted((n for n in names if not self._unchanged(n, None)), key=lambda n: (last.get(n, 0), n))
        for name in changed:
            kind = CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
            try:
                put = obstore.put(self._client(), self._key(name), self.cache / name, attributes={"Content-Type": kind})
            except Exception as exc:
                raise s3.storage_error(exc, self.where.child(name).url) from None
            self._remember(name, put.get("e_tag") or "")
        gone = [n for n in self.seen if n.startswith(f"{REPORT_DIR}/") and not (self.cache / n).is_file()]
        for name in gone:
            try:
                obstore.delete(self._client(), self._key(name))
            except Exception as exc:
                raise s3.storage_error(exc, self.where.child(name).url) from None
            del self.seen[name]
        self._save()
        return len(changed), len(gone)

    def _list(self, prefix: str) -> Iterator[tuple[str, Any]]:
        import obstore

        base = self.where.child("").key
        try:
            for batch in obstore.list(self._client(), prefix=self._key(prefix)):
                for entry in batch:
                    yield entry["path"][len(base) :], entry
        except Exception as exc:
            raise s3.storage_error(exc, self.where.child(prefix).url) from None

    def _get(self, name: str) -> bytes:
        import obstore

        try:
            return bytes(obstore.get(self._client(), self._key(name)).bytes())
        except Exception as exc:
            raise s3.storage_error(exc, self.where.child(name).url) from None

    def _unchanged(self, name: str, etag: str | None) -> bool:
        """The local file is the one last mirrored or uploaded (and, given an ETag, so is the object)."""
        known = self.seen.get(name)
        if known is None or (etag is not None and known[0] != etag):
            return False
        try:
            st = (self.cache / name).stat()
        except OSError:
            return False
        return [st.st_size, st.st_mtime_ns] == known[1:]

    def _remember(self, name: str, etag: str) -> None:
        st = (self.cache / name).stat()
        self.seen[name] = [etag, st.st_size, st.st_mtime_ns]

    def _save(self) -> None:
        write_atomic(self.cache / MANIFEST, json.dumps(self.seen, sort_keys=True).encode())


def _read_manifest(path: Path) -> Seen:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return {str(k): list(v) for k, v in data.items()} if isinstance(data, dict) else {}


@contextmanager
def cache_folder(given: Path | None) -> Iterator[Path]:
    """`given` (kept), or a temporary folder removed afterwards."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="streamclip-report-") as folder:
        yield Path(folder)


async def build_s3_report(url: str, cache: Path, **options: Any) -> tuple[ReportResult, int]:
    """Mirror, build in the cache, upload: the result (its `root` is the cache's report/) and the
    number of files uploaded. `options` go to `build_report`."""
    import asyncio

    site = S3Site(url, cache)
    await asyncio.to_thread(site.mirror)
    result = await build_report(cache, clip_source=site.clip_url, **options)
    uploaded, _deleted = await asyncio.to_thread(site.upload)
    return result, uploaded
