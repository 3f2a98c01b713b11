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
    kwargs: dict[str, object] = {
        "namespace": namespace,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "runtime_env": runtime_env,
    }
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 2, include_dashboard=False, **kwargs)
    return True


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()


async def ping(timeout: float = 1.5) -> None:
    """Raise unless the Ray cluster answers within `timeout` seconds."""
    if not ray.is_initialized():
        raise RuntimeError("ray is not initialized")
    await asyncio.wait_for(asyncio.to_thread(ray.cluster_resources), timeout)
