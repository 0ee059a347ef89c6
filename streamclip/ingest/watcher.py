"""Watcher: finds video files in live folders and hands them on once they are complete.

A file is a candidate when its name is a visible video name (no hidden file or folder, no
`.part`, `.tmp`, `.crdownload`, `~` … names) outside the excluded folders (the output and the
quarantine). A candidate is *ready* when its size, mtime and inode stayed the same for `settle_s`
and `ffprobe` reads it. A classic MP4 still being written has no `moov` index yet: its probe says
"file incomplete" (an empty file, "empty") and the watcher waits for it to change again, for up to
`incomplete_wait_s` of stillness, before it hands it on as bad.

Changes come from `watchfiles` (inotify) and, because network mounts lose events, from a full
rescan every `rescan_s` (the first at start, so files already there are processed too). A file is
handed on once per (size, mtime, inode); `recheck` makes the watcher look at it again. A file the
`known` callback recognises (the daemon asks its ledger: done with this size and mtime) is not
probed at all, so a restart over a large folder costs a walk, not a probe per file.

With `follow`, a file that is still changing is handed on at once (`Candidate.follow`) when it is
a container readable while written (MPEG-TS, Matroska/WebM, FLV, fragmented MP4: told by its
content) and its first seconds probe; a classic MP4 still waits to settle. It is not handed on
as growing again until it has settled once (then as a complete file, which the daemon skips if
it was read to that size).

Symlinks follow one policy on file events and on rescans alike (`symlinks`): "inside" (the
default) takes a link only when its target lies inside a watched folder, "never" takes no link,
"follow" takes every link (and walks into linked folders). A linked folder is walked only under
"follow": under "inside" its files are found at their real place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec
import watchfiles

from streamclip.errors import Reason, SourceError, StreamclipError
from streamclip.ffmpeg.probe import probe
from streamclip.inputs import is_video_name
from streamclip.live.follow import FOLLOWABLE, Container, container_of
from streamclip.runtime.channel import Channel, ReceiverClosed

log = logging.getLogger(__name__)

SymlinkPolicy = Literal["inside", "never", "follow"]
TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", ".filepart")
# Probe failures that may only mean "still arriving": an MP4 without its index yet, a file just created.
STILL_ARRIVING = frozenset({Reason.INCOMPLETE, Reason.EMPTY})


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A settled file: ready to process, or bad (`error` set, with the probe's reason)."""

    path: str  # absolute
    rel: str  # relative to its watched folder
    size: int
    mtime_ns: int
    error: str = ""
    kind: Reason = Reason.OTHER  # why, when `error` is set
    follow: bool = False  # still growing: to be read as it grows (`follow = true`)


class _Pending(msgspec.Struct, kw_only=True):
    signature: tuple[int, int, int]  # size, mtime_ns, inode
    since: float  # when the signature was last seen to change
    probe_at: float
    follow_at: float = 0.0  # with `follow`: when to look at it again as a growing file
    followable: bool | None = None  # with `follow`: False for a classic MP4 (waits to settle)


def is_candidate_name(path: Path, root: Path) -> bool:
    """A visible video file name below `root` that no downloader or editor uses for partial files."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    if any(part.startswith(".") for part in parts):
        return False
    name = path.name.lower()
    if name.endswith("~") or name.endswith(TEMP_SUFFIXES) or name.startswith("~$"):
        return False
    return is_video_name(path)


class Watcher:
    """Sends a `Candidate` per complete file into `outbox`; closes it when stopped."""

    name = "watcher"

    def __init__(
        self,
        roots: Iterable[Path],
        outbox: Channel[Candidate],
        *,
        settle_s: float,
        rescan_s: float,
        incomplete_wait_s: float,
        exclude: Iterable[Path] = (),
        probe_timeout_s: float = 60.0,
        force_polling: bool | None = None,
        known: Callable[[str, int, int], bool] | None = None,
        symlinks: SymlinkPolicy = "inside",
        follow: bool = False,
    ) -> None:
        self.roots = [Path(os.path.abspath(root)) for root in roots]
        self.symlinks = symlinks
        self._real_roots = [Path(os.path.realpath(root)) for root in self.roots]
        self.outbox = outbox
        self.settle_s = settle_s
        self.rescan_s = rescan_s
        self.incomplete_wait_s = incomplete_wait_s
        self.exclude = [Path(os.path.abspath(path)) for path in exclude]
        self.probe_timeout_s = probe_timeout_s
        self.force_polling = force_polling
        self.known = known  # (path, size, mtime_ns) -> already handled: not probed, not handed on
        self.tick_s = max(0.05, min(settle_s / 4, 0.5))
        self._stop = asyncio.Event()
        self._pending: dict[str, _Pending] = {}
        self.follow = follow
        self._following: set[str] = set()  # handed on while growing: not again until settled
        self._handed: dict[str, tuple[int, int, int]] = {}
        self._rescan_now = asyncio.Event()
        self.scans = 0
        self.events = 0
        self.probes = 0
        self.handed_on = 0

    def stop(self) -> None:
        """Stop watching; `run` returns soon after and closes the outbox."""
        self._stop.set()

    def recheck(self, path: str) -> None:
        """Look at `path` again even if it was handed on unchanged (at the next rescan tick)."""
        self._handed.pop(path, None)
        self._following.discard(path)
        self._rescan_now.set()

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                events = group.create_task(self._follow_events(), name="watcher-events")
                await self._tick_loop()
                events.cancel()
        except* ReceiverClosed:
            pass  # the daemon is gone: stop quietly
        finally:
            self.outbox.close()

    def statistics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pending": len(self._pending),
            "tracked": len(self._handed),
            "scans": self.scans,
            "events": self.events,
            "probes": self.probes,
            "handed_on": self.handed_on,
        }

    # -- the loop: rescans and settling -------------------------------------------------------------

    async def _tick_loop(self) -> None:
        await tick_loop(
            self._stop, self._rescan_now, self._scan, self._settle, rescan_s=self.rescan_s, tick_s=self.tick_s
        )

    async def _scan(self) -> None:
        found = await asyncio.to_thread(self._walk_all)
        self.scans += 1
        for path in set(self._handed) - found.keys():
            del self._handed[path]  # gone (deleted, moved to quarantine): forget it
        for path, signature in found.items():
            self._observe(path, signature)

    async def _settle(self) -> None:
        if not self._pending:
            return
        signatures = await asyncio.to_thread(_stat_all, list(self._pending))
        for path, signature in signatures.items():
            self._observe(path, signature)
        now = time.monotonic()
        for path, pending in list(self._pending.items()):
            if self._stop.is_set():
                break
            if now >= pending.probe_at:
                await self._try(path, pending)
            elif self._may_follow(path, pending, now):
                await self._try_growing(path, pending)

    def _may_follow(self, path: str, pending: _Pending, now: float) -> bool:
        if not self.follow or path in self._following or pending.followable is False:
            return False
        return now >= pending.follow_at

    async def _try_growing(self, path: str, pending: _Pending) -> None:
        """With `follow`: hand on a file still being written once it is a container readable while
        written and its first seconds probe; a classic MP4 is left to settle."""
        container = await asyncio.to_thread(_container, path)
        pending.follow_at = time.monotonic() + self.settle_s / 2
        if container is Container.MP4:
            pending.followable = False
            return
        if container not in FOLLOWABLE or (await self._probe(path, growing=True))[0]:
            return  # not (yet) recognisable, or its first seconds do not probe yet: look again later
        signature = _signature(path)
        if signature is None:
            return
        size, mtime_ns, _ = signature
        del self._pending[path]
        self._handed[path] = signature
        self._following.add(path)
        await self.outbox.send(Candidate(path=path, rel=self._rel(path), size=size, mtime_ns=mtime_ns, follow=True))
        self.handed_on += 1

    async def _try(self, path: str, pending: _Pending) -> None:
        error, kind = await self._probe(path)
        if _signature(path) != pending.signature:
            self._observe(path, _signature(path))  # changed while probed: settle again
            return
        waited = time.monotonic() - pending.since
        if error and kind in STILL_ARRIVING and waited < self.incomplete_wait_s:
            pending.probe_at = time.monotonic() + self.settle_s
            return
        size, mtime_ns, _ = pending.signature
        candidate = Candidate(path=path, rel=self._rel(path), size=size, mtime_ns=mtime_ns, error=error, kind=kind)
        del self._pending[path]
        self._handed[path] = pending.signature
        self._following.discard(path)  # settled: the next growth may be followed again
        await self.outbox.send(candidate)
        self.handed_on += 1

    async def _probe(self, path: str, *, growing: bool = False) -> tuple[str, Reason]:
        self.probes += 1
        try:
            await probe(path, timeout_s=self.probe_timeout_s, growing=growing)
        except SourceError as exc:
            return exc.reason, exc.kind
        except StreamclipError as exc:  # a hung or failed ffprobe, or none to run
            return f"ffprobe failed: {exc}", exc.kind
        return "", Reason.OTHER

    def _observe(self, path: str, signature: tuple[int, int, int] | None) -> None:
        if signature is None:
            self._pending.pop(path, None)
            self._handed.pop(path, None)
            self._following.discard(path)
            return
        if self._handed.get(path) == signature:
            self._pending.pop(path, None)
            return
        pending = self._pending.get(path)
        if pending is None and self.known is not None and self.known(path, signature[0], signature[1]):
            self._handed[path] = signature  # e.g. done before a restart: no probe for it
            return
        if pending is None or pending.signature != signature:
            now = time.monotonic()
            self._pending[path] = _Pending(signature=signature, since=now, probe_at=now + self.settle_s)
            if pending is not None and pending.signature[2] == signature[2]:  # the same file, grown
                self._pending[path].follow_at, self._pending[path].followable = pending.follow_at, pending.followable

    # -- file events --------------------------------------------------------------------------------

    async def _follow_events(self) -> None:
        try:
            async for changes in watchfiles.awatch(
                *self.roots, watch_filter=None, stop_event=self._stop, rust_timeout=1000,
                debounce=200, force_polling=self.force_polling,
            ):  # fmt: skip
                self.events += len(changes)
                found = await asyncio.to_thread(self._expand, [path for _, path in changes])
                for path, signature in found.items():
                    self._observe(path, signature)
        except (OSError, RuntimeError) as exc:  # e.g. the inotify watch limit
            log.warning("file events unavailable (%s): relying on a rescan every %g s", exc, self.rescan_s)

    def _expand(self, paths: list[str]) -> dict[str, tuple[int, int, int] | None]:
        """Signatures of changed candidate files; a changed folder is walked (a folder moved in)."""
        found: dict[str, tuple[int, int, int] | None] = {}
        for path in paths:
            root = self._root_of(Path(path))
            if root is None or self._excluded(Path(path)):
                continue
            if not self._allowed(Path(path), root):
                continue  # a link the policy does not take (or a path reached through one)
            if os.path.isdir(path):
                found.update(self._walk(Path(path), root))
            elif is_candidate_name(Path(path), root):
                found[path] = _signature(path)
        return found

    # -- walking ------------------------------------------------------------------------------------

    def _walk_all(self) -> dict[str, tuple[int, int, int] | None]:
        found: dict[str, tuple[int, int, int] | None] = {}
        for root in self.roots:
            found.update(self._walk(root, root))
        return found

    def _walk(self, top: Path, root: Path) -> dict[str, tuple[int, int, int] | None]:
        found: dict[str, tuple[int, int, int] | None] = {}
        follow = self.symlinks == "follow"
        seen: set[str] = set()  # real folders walked: a link loop is walked once
        for folder, dirs, files in os.walk(top, followlinks=follow):
            real = os.path.realpath(folder)
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
            dirs[:] = [d for d in dirs if not d.startswith(".") and not self._excluded(Path(folder) / d)]
            for name in files:
                path = Path(folder) / name
                if is_candidate_name(path, root) and self._allowed(path, root):
                    found[str(path)] = _signature(str(path))
        return found

    def _allowed(self, path: Path, root: Path) -> bool:
        """The symlink policy: may `path` (below `root`) be read?"""
        if self.symlinks == "follow":
            return True
        real = Path(os.path.realpath(path))
        if self.symlinks == "never":  # no link anywhere between the watched folder and the file
            return real == Path(os.path.realpath(root)) / path.relative_to(root)
        return any(real.is_relative_to(inside) for inside in self._real_roots)

    def _root_of(self, path: Path) -> Path | None:
        return next((root for root in self.roots if path.is_relative_to(root)), None)

    def _excluded(self, path: Path) -> bool:
        return any(path.is_relative_to(folder) for folder in self.exclude)

    def _rel(self, path: str) -> str:
        """The name under OUT/processed_videos/: relative to its folder, prefixed when there are several."""
        root = self._root_of(Path(path))
        if root is None:
            return Path(path).name
        rel = Path(path).relative_to(root)
        return str(Path(root.name) / rel) if len(self.roots) > 1 else str(rel)


def _signature(path: str) -> tuple[int, int, int] | None:
    """(size, mtime_ns, inode) of a regular file; None when it is gone or not a file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _container(path: str) -> Container:
    try:
        return container_of(path)
    except OSError:
        return Container.UNKNOWN


def _stat_all(paths: list[str]) -> dict[str, tuple[int, int, int] | None]:
    return {path: _signature(path) for path in paths}


Step = Callable[[], Awaitable[None]]


async def tick_loop(
    stop: asyncio.Event, rescan_now: asyncio.Event, scan: Step, settle: Step, *, rescan_s: float, tick_s: float
) -> None:
    """Until `stop`: `scan` every `rescan_s` (or at once when `rescan_now` is set), and `settle` every
    `tick_s` (the folder watcher and the S3 prefix poller share this loop)."""
    next_scan = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_scan or rescan_now.is_set():
            rescan_now.clear()
            await scan()
            next_scan = time.monotonic() + rescan_s
        await settle()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick_s)
