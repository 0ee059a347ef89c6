"""A Ray head started by `ray.init()` in a process of its own, on 127.0.0.1, for the join tests.

    python tests/ray_head.py CPUS

Prints the head's GCS address on stdout, then runs until stdin closes, and shuts Ray down. With
`RAY_AUTH_TOKEN` in its environment and `RAY_AUTH_MODE` unset, Ray 2.60 turns token authentication
on, as for any cluster started on a machine. The test runs it in a session of its own, so the
whole process group (head, GCS, raylet, workers) can be killed at the end.
"""

from __future__ import annotations

import sys

import ray


def main() -> None:
    context = ray.init(
        num_cpus=int(sys.argv[1]),
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        namespace="head",
        _system_config={"worker_niceness": 0},  # its workers compete with the other tests' as equals
    )
    print(context.address_info["gcs_address"], flush=True)
    sys.stdin.read()
    ray.shutdown()


if __name__ == "__main__":
    main()
