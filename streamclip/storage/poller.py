"""PrefixPoller: the daemon's watcher for `s3://bucket/prefix/` sources (`watch`/`serve`).

An object store sends no file events, so each prefix is listed every `rescan_s` (the first at
start). An object is a candidate when its name is a visible video name (as in a folder: no hidden
part, no temporary suffix); it is *taken* once its size and ETag stayed the same for `settle_s`
(objects seen changing are looked at again with a HEAD every tick until they settle) and ffprobe
reads it. S3 shows an object only once its upload is complete, so a probe failure is final: the
object is handed on as bad at once (never "still arriving"). A key the S3 client cannot address
(`a//b.mp4`, `./c.mp4`: `storage.listing`) is skipped and named once; the others still flow.

Candidates carry the object's URL as `path` and, for the ledger's "done with this size and mtime"
check, a number made from its ETag as `mtime_ns`: a restart over a done prefix costs a listing,
not a probe per object; a replaced object (new ETag) is processed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any, Protocol

import msgspec

from streamclip.errors import Reason, SourceError, StreamclipError
from streamclip.ffmpeg.probe import probe
from streamclip.ingest.watcher import TEMP_SUFFIXES, Candidate, tick_loop
from streamclip.runtime.channel import Channel, ReceiverClosed
from streamclip.storage import remote, s3

log = logging.getLogger(__name__)

Signature = tuple[int, str]  # size, ETag


class Watching(Protocol):
    """What the daemon needs of a watcher: the folder `Watcher`, a `PrefixPoller`, or `Watchers`."""

    def stop(self) -> None: ...
    def recheck(self, path: str) -> None: ...
    async def run(self) -> None: ...
    def statistics(self) -> dict[str, Any]: ...


class _Pending(msgspec.Struct, kw_only=True):
    rel: str
    signature: Signature
    since: float


def etag_number(etag: str) -> int:
    """A stable 60-bit number for an ETag (stored where a file's mtime_ns goes in the ledger)."""
    return int(hashlib.sha256(etag.encode()).hexdigest()[:15], 16)


def object_fingerprint(url: str) -> str:
    """The ledger's content fingerprint of an object: '<size>:etag:<ETag>' (one HEAD; blocking).
    OSError when it cannot be read (gone, denied, server unreachable)."""
    import obstore

    where = s3.parse(url)
    try:
        head = obstore.head(s3.store(where.bucket), where.key)
    except Exception as exc:
        raise FileNotFoundError(str(s3.storage_error(exc, url, otherwise=Reason.OTHER))) from None
    return f"{head['size']}:etag:{head['e_tag'] or ''}"


def is_candidate_key(rel: str) -> bool:
    name = PurePosixPath(rel).name.lower()
    return not (name.endswith("~") or name.endswith(TEMP_SUFFIXES) or name.startswith("~$"))


class PrefixPoller:
    """Sends a `Candidate` per settled object of `prefixes` into `outbox` (closed when it stops,
    if `owns_outbox`: when a folder `Watcher` shares the channel, that one closes it)."""

    name = "prefix_poller"

    def __init__(
        self,
        prefixes: Iterable[str],
        outbox: Channel[Candidate],
        *,
        settle_s: float,
        rescan_s: float,
        probe_timeout_s: float = 60.0,
        known: Callable[[str, int, int], bool] | None = None,
        owns_outbox: bool = True,
        exclude: str | None = None,
    ) -> None:
        self.prefixes = list(prefixes)
        self.exclude = exclude  # the daemon's own s3:// output, when under a watched prefix
        self.outbox = outbox
        self.settle_s, self.rescan_s, self.probe_timeout_s = settle_s, rescan_s, probe_timeout_s
        self.tick_s = min(1.0, settle_s / 2)
        self.known = known
        self.owns_outbox = owns_outbox
        self._stop = asyncio.Event()
        self._rescan_now = asyncio.Event()
        self._pending: dict[str, _Pending] = {}
        self._handed: dict[str, Signature] = {}
        self._named: set[str] = set()  # keys the client cannot address, named already
        self.scans = self.probes = self.handed_on = self.list_errors = 0

    def stop(self) -> None:
        self._stop.set()

    def recheck(self, path: str) -> None:
        self._handed.pop(path, None)
        self._rescan_now.set()

    def statistics(self) -> dict[str, Any]:
        return {"name": self.name, "pending": len(self._pending), "tracked": len(self._handed),
                "scans": self.scans, "probes": self.probes, "handed_on": self.handed_on,
                "list_errors": self.list_errors}  # fmt: skip

    async def run(self) -> None:
        try:
            await tick_loop(
                self._stop, self._rescan_now, self._scan, self._settle, rescan_s=self.rescan_s, tick_s=self.tick_s
            )
        except ReceiverClosed:
            pass  # the daemon is gone: stop quietly
        finally:
            if self.owns_outbox:
                self.outbox.close()

    async def _scan(self) -> None:
        found: dict[str, tuple[str, Signature]] = {}
        odd: set[str] = set()
        listed_ok: list[str] = []
        for prefix in self.prefixes:
            try:
                listed = await asyncio.to_thread(remote.list_videos, prefix, self.exclude)
            except SourceError as exc:  # the daemon lives on: a bucket may come back
                self.list_errors += 1
                log.warning("cannot list %s: %s", prefix, exc.reason)
                continue
            found.update({url: (rel, (size, etag)) for url, rel, size, etag in listed.videos if is_candidate_key(rel)})
            odd.update(listed.unaddressable)
            listed_ok.append(prefix)
        self.scans += 1
        self._name_unaddressable(odd, complete=len(listed_ok) == len(self.prefixes))
        for url in set(self._handed) - found.keys():
            del self._handed[url]  # deleted: forget it
        for url in set(self._pending) - found.keys():
            del self._pending[url]
        for url, (rel, signature) in found.items():
            self._observe(url, rel, signature)

    def _name_unaddressable(self, odd: set[str], *, complete: bool) -> None:
        """Each key the client cannot address is named once while it is there, not at every listing
        (forgotten once a complete round of listings no longer holds it)."""
        for url in sorted(odd - self._named):
            log.warning("%s: %s", url, remote.UNADDRESSABLE)
        self._named = odd if complete else self._named | odd

    def _observe(self, url: str, rel: str, signature: Signature) -> None:
        if self._handed.get(url) == signature:
            return
        pending = self._pending.get(url)
        if pending is None and self.known is not None and self.known(url, signature[0], etag_number(signature[1])):
            self._handed[url] = signature  # done before a restart: no probe for it
            return
        if pending is None or pending.signature != signature:
            self._pending[url] = _Pending(rel=rel, signature=signature, since=time.monotonic())

    async def _settle(self) -> None:
        for url, pending in list(self._pending.items()):
            if self._stop.is_set() or time.monotonic() - pending.since < self.settle_s:
                continue
            now = await asyncio.to_thread(_head, url)
            if now != pending.signature:
                if now is None:
                    del self._pending[url]
                else:
                    self._observe(url, pending.rel, now)
                continue
            await self._hand_on(url, pending)

    async def _hand_on(self, url: str, pending: _Pending) -> None:
        error, kind = await self._probe(url)
        size, etag = pending.signature
        candidate = Candidate(path=url, rel=pending.rel, size=size, mtime_ns=etag_number(etag), error=error, kind=kind)
        del self._pending[url]
        self._handed[url] = pending.signature
        await self.outbox.send(candidate)
        self.handed_on += 1

    async def _probe(self, url: str) -> tuple[str, Reason]:
        self.probes += 1
        try:
            await probe(url, timeout_s=self.probe_timeout_s)
        except SourceError as exc:
            return exc.reason, exc.kind
        except StreamclipError as exc:
            return f"ffprobe failed: {exc}", exc.kind
        return "", Reason.OTHER


def _head(url: str) -> Signature | None:
    import obstore

    where = s3.parse(url)
    try:
        head = obstore.head(s3.store(where.bucket), where.key)
    except Exception:
        return None
    return int(head["size"]), str(head["e_tag"] or "")


class Watchers:
    """Folders and prefixes watched together: one channel, closed once every part has stopped."""

    name = "watchers"

    def __init__(self, parts: list[Watching], outbox: Channel[Candidate]) -> None:
        self.parts, self.outbox = parts, outbox

    def stop(self) -> None:
        for part in self.parts:
            part.stop()

    def recheck(self, path: str) -> None:
        for part in self.parts:
            part.recheck(path)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for part in self.parts:
                    group.create_task(part.run())
        finally:
            self.outbox.close()

    def statistics(self) -> dict[str, Any]:
        merged: dict[str, Any] = {"name": self.name}
        for part in self.parts:
            for key, value in part.statistics().items():
                if isinstance(value, int):
                    merged[key] = merged.get(key, 0) + value
        return merged
