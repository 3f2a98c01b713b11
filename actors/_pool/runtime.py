"""Connecting this process to Ray: an existing cluster at RAY_ADDRESS, else a local instance."""

from __future__ import annotations

import asyncio
import logging
import os

import ray

NAMESPACE = "cadence"
log = logging.getLogger("cadence.ray")


def connect(address: str = "", *, namespace: str = NAMESPACE, num_cpus: int | None = None) -> bool:
    """Blocking; call it off the event loop. Returns True when this call started Ray."""
    if ray.is_initialized():
        return False
    # Worker processes import our packages from the project root.
    runtime_env = {"env_vars": {"PYTHONPATH": os.getcwd()}}
    if address:
        ray.init(
            address=address,
            namespace=namespace,
            logging_level=logging.WARNING,
            log_to_driver=False,
            runtime_env=runtime_env,
        )
    else:
        ray.init(
            num_cpus=num_cpus or os.cpu_count() or 2,
            include_dashboard=False,
            namespace=namespace,
            logging_level=logging.WARNING,
            log_to_driver=False,
            runtime_env=runtime_env,
            # Ray starts workers at niceness 15 (batch jobs must not starve its daemons). Our
            # actors serve live requests: at 15 any other busy process on the machine starves
            # them (measured: 100 pose sessions at 30 fps went from p99 83 ms to 5.6 s behind
            # two nice-5 CPU hogs). A cluster given by address sets RAY_worker_niceness=0 itself.
            _system_config={"worker_niceness": 0},
        )
    return True


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()


async def ping() -> None:
    """Raise unless the Ray cluster answers within 1.5 s."""
    if not ray.is_initialized():
        raise RuntimeError("ray is not initialized")
    await asyncio.wait_for(asyncio.to_thread(ray.cluster_resources), 1.5)
