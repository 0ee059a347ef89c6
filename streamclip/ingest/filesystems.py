"""Which filesystem a path lives on, so the ledger can refuse one SQLite cannot lock safely.

SQLite's WAL journal shares memory between the processes that open a database (the `-shm`
file), which network filesystems (NFS, SMB/CIFS, sshfs, Ceph, ...) do not support: a ledger
there can be corrupted or read stale. The ledger belongs on a local disk of the machine that
runs the daemon, even when the clips go to shared storage.
"""

from __future__ import annotations

import os
from pathlib import Path

from streamclip.errors import ConfigError

NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs", "lustre", "gpfs",
    "beegfs", "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse",
    "fuse.juicefs", "fuse.mountpoint-s3", "davfs", "fuse.davfs2",
})  # fmt: skip
MOUNTS = Path("/proc/self/mounts")


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path` (its nearest existing folder); "" if unknown."""
    target = Path(os.path.realpath(path))
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        lines = MOUNTS.read_text().splitlines()
    except OSError:
        return ""  # not Linux, or no /proc: nothing to go by
    best, kind = -1, ""
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = Path(fields[1].replace("\\040", " "))
        if target.is_relative_to(mount_point) and len(mount_point.parts) > best:
            best, kind = len(mount_point.parts), fields[2]
    return kind


def refuse_network_filesystem(ledger: Path) -> None:
    """ConfigError, saying why and what to do, when `ledger` would sit on a network filesystem."""
    kind = filesystem_type(ledger.parent)
    if kind in NETWORK_FILESYSTEMS:
        raise ConfigError(
            f"ledger {ledger} is on a network filesystem ({kind}): SQLite's WAL journal needs a local disk "
            "(shared memory between processes). Put the ledger on this machine's disk, e.g. "
            '`ledger = "/var/lib/streamclip/ledger.sqlite"` in the serve config or `watch --ledger PATH`; '
            "the clips can stay on shared storage."
        )
