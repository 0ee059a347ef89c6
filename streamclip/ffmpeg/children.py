"""The only module that starts ffmpeg/ffprobe: binaries, runs with time limits, kill on cancel.

Every child gets a list argv (never a shell), stdin closed, and a time limit. A cancelled or
timed-out child is killed and reaped before the exception propagates, so nothing is orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from streamclip.errors import FFmpegError, MissingToolError, Reason, StreamclipError
from streamclip.sources import scrub

STDERR_TAIL_CHARS = 2000
_live_children: set[asyncio.subprocess.Process] = set()
_argv_of: dict[asyncio.subprocess.Process, Sequence[str]] = {}
_exit_hooks: list[Callable[[Sequence[str]], None]] = []


def on_child_exit(hook: Callable[[Sequence[str]], None]) -> Callable[[], None]:
    """Call `hook(argv)` once each child has exited and been reaped, or failed to start (the
    loopback proxy revokes the tokens it granted that child). Returns what removes the hook."""
    _exit_hooks.append(hook)
    return lambda: _exit_hooks.remove(hook)


def _exited(argv: Sequence[str]) -> None:
    for hook in _exit_hooks:
        hook(argv)


def _binary(name: str) -> str:
    override = os.environ.get(f"STREAMCLIP_{name.upper()}")
    found = override or shutil.which(name)
    if not found:
        raise MissingToolError(
            f"{name} not found on PATH. Install it (Debian/Ubuntu: `apt-get install ffmpeg`) "
            f"or point STREAMCLIP_{name.upper()} at the binary."
        )
    return found


def ffmpeg_binary() -> str:
    return _binary("ffmpeg")


def ffprobe_binary() -> str:
    return _binary("ffprobe")


def live_children() -> int:
    """How many children started here are still running (tests assert 0 after cancel)."""
    return sum(1 for proc in _live_children if proc.returncode is None)


@functools.cache
def available_encoders() -> frozenset[str]:
    """Names of the video encoders this ffmpeg build offers (`ffmpeg -encoders`)."""
    listed = _listed(ffmpeg_binary(), "encoders", check=False)
    return frozenset(name for flags, name in listed if len(flags) == 6 and flags[0] == "V")


@functools.cache
def available_hwaccels() -> frozenset[str]:
    """Hardware decoders this ffmpeg build offers (`ffmpeg -hwaccels`: cuda, vaapi, …)."""
    out = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-hwaccels"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    return frozenset(line.strip() for line in out.splitlines()[1:] if line.strip())


def run_quietly(argv: Sequence[str], *, timeout_s: float) -> tuple[int | None, str]:
    """A short blocking check run once per pipeline (nvidia-smi, an NVENC test encode): its exit status
    (None: the program is missing or ran past `timeout_s`) and its stdout, stderr appended."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    return done.returncode, done.stdout + done.stderr


def _listed(binary: str, what: str, *, check: bool) -> list[tuple[str, str]]:
    """(flags, name) of each entry that `ffmpeg -<what>` lists (encoders, demuxers, …)."""
    out = subprocess.run(
        [binary, "-hide_banner", f"-{what}"], capture_output=True, text=True, timeout=30, check=check
    ).stdout
    return [(parts[0], parts[1]) for parts in map(str.split, out.splitlines()) if len(parts) >= 2]


# Demuxers that open other files or devices named inside the input (playlists, concat lists,
# image patterns, scripts, filter graphs): a file dropped into a watched folder must never make
# ffmpeg read anything but itself.
MULTI_FILE_DEMUXERS = frozenset(
    {"hls", "applehttp", "dash", "concat", "image2", "imf", "sdp", "rtsp", "rtp", "avisynth", "vapoursynth", "lavfi"}
)


@dataclass
class _Demuxers:
    binary: str = ""  # the ffmpeg they were read from ("" before the first read)
    names: frozenset[str] | None = None  # the single-file ones
    failure: str = ""  # why they could not be read


_demuxers = _Demuxers()


class DemuxerListError(StreamclipError):
    """ffmpeg could not list its demuxers: no input is opened without the single-file whitelist."""

    kind = Reason.TOOL_ERROR


def load_demuxers() -> None:
    """Ask this ffmpeg for its demuxers (blocking: `demuxers_ready` runs it off the event loop when
    a pipeline, the review site or a probe starts). A failure is kept until the next call: every
    input opened meanwhile fails with its reason, none is opened without the whitelist."""
    global _demuxers
    binary = ffmpeg_binary()
    try:
        listed = _listed(binary, "demuxers", check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        _demuxers = _Demuxers(binary, None, f"{os.path.basename(binary)} -demuxers failed ({scrub(str(exc))[:200]})")
        return
    names = {name for flags, names in listed if flags == "D" for name in names.split(",")}
    if not names:
        _demuxers = _Demuxers(binary, None, f"{os.path.basename(binary)} -demuxers listed no demuxer")
        return
    _demuxers = _Demuxers(binary, frozenset(names - MULTI_FILE_DEMUXERS))


async def demuxers_ready(*, again: bool = True) -> None:
    """`load_demuxers` in a thread: when nothing was read yet, or (`again`: a pipeline opening) when
    the last read failed or was of another ffmpeg."""
    stale = _demuxers.names is None or _demuxers.binary != ffmpeg_binary()
    if not _demuxers.binary or (again and stale):
        await asyncio.to_thread(load_demuxers)


def single_file_demuxers() -> frozenset[str]:
    """The demuxers that read only the file they are given (the `-format_whitelist` of every
    input), as last read by `load_demuxers`; `DemuxerListError` when ffmpeg could not list them:
    inputs fail closed. Read here (blocking) only by a caller that comes before any pipeline."""
    if not _demuxers.binary:
        load_demuxers()
    if _demuxers.names is None:
        raise DemuxerListError(f"cannot open inputs safely: {_demuxers.failure}, so no demuxer whitelist can be set")
    return _demuxers.names


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str


def _tail(stderr: bytes | str) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return scrub(text[-STDERR_TAIL_CHARS:])  # an input's signed URL never reaches a message


@functools.cache
def _die_with_parent() -> list[str]:
    """A prefix that makes a child die when this process dies, even of SIGKILL (Linux `setpriv`).

    Cancellation already reaps every child; this covers a worker killed outright (kill -9 of
    `serve`, a Ray actor killed) so that its ffmpeg children do not run on as orphans.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return []
    check = subprocess.run([setpriv, "--pdeathsig", "KILL", "--", "true"], capture_output=True, check=False)
    return [setpriv, "--pdeathsig", "KILL", "--"] if check.returncode == 0 else []


async def _spawn(
    argv: Sequence[str], *, stdout: int, stdin: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    # Checked here, not left to exec: behind `setpriv` a missing binary is only an exit status.
    if os.sep in argv[0] and (not os.access(argv[0], os.X_OK) or os.path.isdir(argv[0])):
        _exited(argv)
        raise MissingToolError(f"{argv[0]} cannot be run (missing, or not an executable file)")
    try:
        proc = await asyncio.create_subprocess_exec(
            *_die_with_parent(),
            *argv,
            stdin=stdin,
            stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
            # Its own session: a Ctrl-C at the terminal reaches streamclip alone, which decides how
            # each child ends (a live source's reader is asked to finish, the encoders go on).
            start_new_session=True,
        )
    except OSError as exc:  # removed or made unrunnable a moment ago, or out of processes
        _exited(argv)
        raise MissingToolError(f"{argv[0]} cannot be started: {exc.strerror or exc}") from exc
    _live_children.add(proc)
    _argv_of[proc] = argv
    return proc


async def _reap(proc: asyncio.subprocess.Process, *, discard_stdout: bool = False) -> None:
    """Kill (if still running) and wait, even while the caller is being cancelled.

    `discard_stdout` reads and drops unread output first: `Process.wait()` also waits for the
    pipes to close (Python 3.11.x), so a stdout paused by backpressure would block it forever.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    waiting = asyncio.ensure_future(_wait(proc, discard_stdout))
    cancelled = False
    try:
        while not waiting.done():  # a cancel (however many) waits on: the child is killed, its exit is near
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                cancelled = True
    finally:
        _live_children.discard(proc)
        argv = _argv_of.pop(proc, None)
        if argv is not None:
            _exited(argv)
    waiting.result()  # its own error, if any
    if cancelled:
        raise asyncio.CancelledError


async def _wait(proc: asyncio.subprocess.Process, discard_stdout: bool) -> int:
    if discard_stdout and proc.stdout is not None:
        while await proc.stdout.read(1 << 16):
            pass
    return await proc.wait()


async def run(argv: Sequence[str], *, timeout_s: float, check: bool = True) -> Completed:
    """Run a child to completion, capturing stdout and stderr; kill it on timeout or cancel."""
    proc = await _spawn(argv, stdout=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except TimeoutError:
        await _reap(proc)
        raise FFmpegError(argv, None, f"no result after {timeout_s:.0f} s", timed_out=True) from None
    finally:
        await _reap(proc)
    assert proc.returncode is not None
    done = Completed(list(argv), proc.returncode, out, _tail(err))
    if check and done.returncode != 0:
        raise FFmpegError(argv, done.returncode, done.stderr)
    return done


@dataclass
class StreamingChild:
    """A child whose stdout is read in pieces; stderr is collected in the background."""

    argv: list[str]
    proc: asyncio.subprocess.Process
    idle_timeout_s: float
    _stderr: bytearray = field(default_factory=bytearray)
    _stderr_task: asyncio.Task[None] | None = None

    async def read_exactly(self, n: int) -> bytes:
        """Read `n` bytes, or fewer at end of stream; a child silent for too long is killed."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(self.idle_timeout_s):
                return await self.proc.stdout.readexactly(n)
        except asyncio.IncompleteReadError as short:
            return short.partial
        except TimeoutError:
            await _reap(self.proc)
            raise FFmpegError(self.argv, None, f"no output for {self.idle_timeout_s:.0f} s", timed_out=True) from None

    async def write(self, data: bytes) -> None:
        """Feed the child's stdin (started with `stdin=PIPE`); waits while the pipe is full."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    def interrupt(self) -> None:
        """Ask the child to finish as on Ctrl-C (ffmpeg closes its outputs properly)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def finish(self, timeout_s: float = 30.0) -> Completed:
        """Wait for a child that has finished writing; returns its status and stderr tail."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.proc.wait()
                if self._stderr_task is not None:
                    await self._stderr_task
        except TimeoutError:
            await _reap(self.proc)
        assert self.proc.returncode is not None
        return Completed(self.argv, self.proc.returncode, b"", self.stderr)

    @property
    def stderr(self) -> str:
        return _tail(bytes(self._stderr))

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._stderr += chunk
            if len(self._stderr) > 8 * STDERR_TAIL_CHARS:
                del self._stderr[: -STDERR_TAIL_CHARS * 2]


@contextlib.asynccontextmanager
async def stream(
    argv: Sequence[str], *, idle_timeout_s: float, stdin: int = asyncio.subprocess.DEVNULL
) -> AsyncIterator[StreamingChild]:
    """Start a child for streamed reading of stdout; on exit it is always reaped (killed if needed).

    `stdin` is the child's standard input: closed by default, `asyncio.subprocess.PIPE` to feed it
    (`StreamingChild.write`), or a file descriptor it reads itself (a source on our stdin)."""
    proc = await _spawn(argv, stdout=asyncio.subprocess.PIPE, stdin=stdin)
    child = StreamingChild(list(argv), proc, idle_timeout_s)
    child._stderr_task = asyncio.create_task(child._drain_stderr())
    try:
        yield child
    finally:
        await _reap(proc, discard_stdout=True)
        child.close_stdin()
        child._stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await child._stderr_task
