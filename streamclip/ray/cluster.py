"""Joining a Ray cluster (or starting a runtime here), as Ray documents it, failing in one line.

`address` is "local" (start a Ray runtime in this process), "auto" (the cluster started on this
machine with `ray start`, or `RAY_ADDRESS`), "HOST:PORT" (the head's GCS port, 6379 by default)
or "ray://HOST:10001" (Ray Client).

Tokens. Ray 2.5x starts clusters with token authentication on (`ray start`, or `ray.init()` in
another process), and a client must send the cluster's token. Ray reads it from `RAY_AUTH_TOKEN`,
the file named by `RAY_AUTH_TOKEN_PATH`, or `~/.ray/auth_token` (on the head, `ray get-auth-token`
prints it) — but `ray.init(address=...)` turns token mode on only when `RAY_AUTH_MODE=token` is
set; for an explicit address it never looks, retries for about 20 s with "Authentication token
is missing or incorrect", and raises. So: when `RAY_AUTH_MODE` is unset and a token is at hand,
token mode is turned on here (`RAY_AUTH_MODE=token`, as Ray itself does for `auto`); an explicit
`RAY_AUTH_MODE` (`token` or `disabled`) is respected.

Failing to join — nothing listening, connection refused, a wrong or missing token — raises
`RayJoinError` with one line naming the address and the cause, within a few seconds: the port is
tried first (3 s), and Ray's own connection attempts are bounded (`RAY_gcs_server_port_wait_time_s`,
unless set already).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray

from streamclip.config import RayConfig
from streamclip.errors import ClusterJoinError

PORT_TIMEOUT_S = 3.0
JOIN_WAIT_S = 5  # seconds Ray keeps trying the cluster's GCS before giving up
AUTH_MODE, TOKEN, TOKEN_PATH = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
# Ray starts its workers at niceness 15 so that a shared cluster's own daemons stay responsive. In a
# runtime started for this one job that only makes the job's work (decoding, the detector and the
# ffmpeg children, which inherit it) yield to every other process on the machine: beside two busy
# processes on two cores, a Ray test took 99 s at 15 and 18 s at 0. The workers run at this process's
# priority instead.
LOCAL_RUNTIME_CONFIG: dict[str, object] = {"worker_niceness": 0}


RayJoinError = ClusterJoinError


def connect(ray_config: RayConfig) -> bool:
    """Join the cluster at `address`, or start a local Ray runtime; True if this call started Ray."""
    if ray.is_initialized():
        return False
    with _signal_handlers_kept():
        if ray_config.address == "local":
            ray.init(
                namespace=ray_config.namespace,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                _system_config=LOCAL_RUNTIME_CONFIG,
            )
        else:
            join(ray_config.address, ray_config.namespace)
    return True


def join(address: str, namespace: str) -> None:
    """`ray.init(address=...)` with the cluster's token, or one clear `RayJoinError`."""
    target = _resolve(address)
    _check_port(address, target)
    token = token_source()
    mode = os.environ.get(AUTH_MODE)
    if mode is None and token is not None:
        _enable_token_mode()
    with _bounded_gcs_wait(), _stderr_held() as held:
        try:
            ray.init(address=address, namespace=namespace, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:
            held.drop = True  # Ray's C++ client logs each refused try; the one line below says it
            rejected = "Authentication token is missing or incorrect" in held.text()
            raise RayJoinError(_refused(address, exc, token, os.environ.get(AUTH_MODE), rejected)) from None


def _enable_token_mode() -> None:
    """What Ray does for a local cluster: the mode in the environment (for this process and the
    workers it starts), and Ray's cached configuration re-read."""
    os.environ[AUTH_MODE] = "token"
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")


def token_source() -> str | None:
    """Where Ray will read a token from (`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH`, ~/.ray/auth_token), if any."""
    if os.environ.get(TOKEN):
        return TOKEN
    path = os.environ.get(TOKEN_PATH)
    if path:
        return path if Path(path).is_file() else None
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def _resolve(address: str) -> str:
    """HOST:PORT of the head's GCS (or Ray Client server) for an address Ray takes."""
    if address.startswith("ray://"):
        return address.removeprefix("ray://")
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            found = canonicalize_bootstrap_address("auto")
        except ConnectionError as exc:
            raise RayJoinError(f"cannot join the Ray cluster at 'auto': {_first_line(exc)}") from None
        if not found:
            raise RayJoinError(
                "cannot join the Ray cluster at 'auto': no cluster is running on this machine "
                "(start one with `ray start --head`) and RAY_ADDRESS is not set"
            )
        return found
    return address


def _check_port(address: str, target: str) -> None:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise RayJoinError(f"cannot join the Ray cluster at {address!r}: not HOST:PORT (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PORT_TIMEOUT_S):
            pass
    except ConnectionRefusedError:
        raise RayJoinError(
            f"cannot join the Ray cluster at {address}: connection refused (nothing listening on port {port} "
            f"of {host}; is the head started, e.g. `ray start --head --port {port}`?)"
        ) from None
    except TimeoutError:
        raise RayJoinError(
            f"cannot join the Ray cluster at {address}: no answer from {target} within {PORT_TIMEOUT_S:g} s "
            "(host down, or a firewall)"
        ) from None
    except OSError as exc:
        raise RayJoinError(f"cannot join the Ray cluster at {address}: {exc.strerror or exc}") from None


def _refused(address: str, exc: BaseException, token: str | None, mode: str | None, rejected: bool) -> str:
    """The one line for a cluster that answers on its port but does not let this client in."""
    if mode == "token" and token is not None:
        cause = f"the cluster rejected the token from {token} (not this cluster's token)"
    elif mode == "token":
        return (
            f"cannot join the Ray cluster at {address}: RAY_AUTH_MODE=token but no token was found "
            "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)"
        )
    elif rejected:
        cause = (
            "the cluster requires a token and none was found: put its token (`ray get-auth-token` on the "
            "head prints it) in RAY_AUTH_TOKEN or ~/.ray/auth_token"
        )
    else:
        return f"cannot join the Ray cluster at {address}: {_first_line(exc)}"
    if not rejected:
        cause += f"; {_first_line(exc)}"
    return f"cannot join the Ray cluster at {address}: {cause}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class _HeldOutput:
    def __init__(self, file: Any) -> None:
        self.file = file
        self.drop = False

    def text(self) -> str:
        self.file.seek(0)
        return str(self.file.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def _stderr_held() -> Iterator[_HeldOutput]:
    """File descriptor 2 into a temporary file while Ray connects (its C++ client writes there),
    written back afterwards unless dropped."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as file:
        held = _HeldOutput(file)
        os.dup2(file.fileno(), 2)
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not held.drop:
                sys.stderr.write(held.text())


@contextlib.contextmanager
def _bounded_gcs_wait() -> Iterator[None]:
    """Ray's driver tries the GCS once a second, 20 times by default: JOIN_WAIT_S is enough for a
    head whose port answered, and is what a refused token costs. Ray's C++ warnings about each
    refused try are kept off the terminal (the one line about the failure says it); both only
    where the user has not set them."""
    settings = {"RAY_gcs_server_port_wait_time_s": str(JOIN_WAIT_S), "RAY_BACKEND_LOG_LEVEL": "error"}
    added = [key for key in settings if key not in os.environ]
    os.environ.update({key: settings[key] for key in added})
    try:
        yield
    finally:
        for key in added:
            del os.environ[key]


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """`ray.init` installs its own SIGTERM/SIGINT handlers, which end the process on the spot.

    Put ours back (the daemon's graceful drain, the CLI's Ctrl-C) once Ray is up.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)
