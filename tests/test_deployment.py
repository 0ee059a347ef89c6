"""Running the daemon as a service: a sandboxed unit, a ledger on a local disk, and `status` for
an operator who may only read the output folder."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streamclip.errors import ConfigError
from streamclip.ingest import filesystems
from streamclip.ingest.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "examples" / "streamclip.service"


def service_section() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return dict(parser["Service"])


def test_the_example_unit_is_sandboxed() -> None:
    service = service_section()
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "RestrictSUIDSGID": "yes", "CapabilityBoundingSet": "",
    }.items():  # fmt: skip
        assert service.get(key) == value, key
    assert "/srv/videos/clips" in service["ReadWritePaths"].split()  # serve.toml's output folder


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_example_unit(tmp_path: Path) -> None:
    copy = tmp_path / "streamclip.service"
    shutil.copyfile(UNIT, copy)
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False)
    complaints = [line for line in done.stderr.splitlines() if line.strip() and "is not executable" not in line]
    assert complaints == []  # (the venv of the example is not installed here)


def test_the_ledger_refuses_a_network_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filesystems, "filesystem_type", lambda path: "nfs4")
    with pytest.raises(ConfigError, match=r"network filesystem \(nfs4\).*local disk.*ledger ="):
        Ledger(tmp_path / "out" / ".streamclip" / "ledger.sqlite")
    assert not (tmp_path / "out").exists()


def test_filesystem_type_reads_the_mount_table(tmp_path: Path) -> None:
    if not filesystems.MOUNTS.exists():
        pytest.skip("no /proc/self/mounts here")
    assert filesystems.filesystem_type(Path("/proc/self")) == "proc"
    assert filesystems.filesystem_type(tmp_path / "not" / "made" / "yet") == filesystems.filesystem_type(tmp_path)


def test_status_reads_a_ledger_in_a_folder_it_cannot_write(tmp_path: Path) -> None:
    """`status` opened the ledger read-write: an operator without write access to OUT failed."""
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only folder for root needs a read-only mount (root and mount(8))")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(out)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with Ledger(out / ".streamclip" / "ledger.sqlite") as ledger:
            ledger.queue("/v.mp4", size=1, mtime_ns=1, fingerprint="f", settings_hash="s")
            ledger.start("/v.mp4")
            ledger.finish("/v.mp4", "failed", error="disk full", kind="output_io")
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        done = subprocess.run(
            [sys.executable, "-m", "streamclip", "status", "-o", str(out)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)
    assert done.returncode == 0, done.stderr
    assert "failed              1        0" in done.stdout
    assert "FAILED /v.mp4 [output_io]: disk full" in done.stdout
