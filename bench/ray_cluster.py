"""A Ray cluster of this run's own: `python -m bench.ray_cluster` starts a head node
(`ray.cluster_utils.Cluster`, never `ray start`) with its files under RAY_TMPDIR (a private
temporary directory, so no other process on the machine finds it through /tmp/ray), prints
`address <gcs address>` and serves until its standard input closes (the run ended or died)."""

from __future__ import annotations

import os
import sys

from ray.cluster_utils import Cluster


def start_cluster(head_cpus: int) -> Cluster:
    """A head node with `head_cpus` CPUs. Needs RAY_TMPDIR set to a private directory: Ray writes
    the address of the last cluster it started there (`ray_current_cluster`), which every
    `ray.init()` without an address on the machine would otherwise join."""
    if not os.environ.get("RAY_TMPDIR"):
        raise RuntimeError("set RAY_TMPDIR to a private directory")
    return Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": head_cpus,
            "include_dashboard": False,
            # Our actors serve live requests: at Ray's default niceness (15) any busy process on
            # the machine starves them (actors/_pool/runtime.py).
            # Ray's defaults take ~15-25 s to declare a silent node dead (a check every 3 s, 5
            # misses); operators shorten it the same way (docs/scaling.md), and so do these runs.
            "_system_config": {
                "worker_niceness": 0,
                "health_check_period_ms": 500,
                "health_check_timeout_ms": 1000,
                "health_check_failure_threshold": 3,
            },
        },
    )


def main() -> None:
    cluster = start_cluster(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print("address", cluster.address, flush=True)
    sys.stdin.read()  # until the run closes the pipe (or dies, which closes it too)
    cluster.shutdown()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
