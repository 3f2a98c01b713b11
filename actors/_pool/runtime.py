"""Connecting this process to Ray: an existing cluster at RAY_ADDRESS, else a local instance."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading

import ray

NAMESPACE = "cadence"
log = logging.getLogger("cadence.ray")


def connect(address: str = "", *, namespace: str = NAMESPACE, num_cpus: int | None = None) -> bool:
    """Blocking; call it off the event loop. Returns True when this call started Ray."""
    if ray.is_initialized():
        return False
    _fold_ray_logs()
    # Worker processes import our packages from the project root.
    runtime_env = {"env_vars": {"PYTHONPATH": os.getcwd()}}
    if address:
        ray.init(
            address=address,
            namespace=namespace,
            configure_logging=False,  # _fold_ray_logs: ours, not Ray's plain stderr lines
            log_to_driver=False,
            runtime_env=runtime_env,
        )
    else:
        ray.init(
            # "local": always a new instance of our own. Without it Ray joins the cluster named
            # by /tmp/ray/ray_current_cluster, a stale or foreign one on a shared machine.
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 2,
            include_dashboard=False,
            namespace=namespace,
            configure_logging=False,  # _fold_ray_logs: ours, not Ray's plain stderr lines
            log_to_driver=False,
            runtime_env=runtime_env,
            # Ray starts workers at niceness 15 (batch jobs must not starve its daemons). Our
            # actors serve live requests: at 15 any other busy process on the machine starves
            # them (measured: 100 pose sessions at 30 fps went from p99 83 ms to 5.6 s behind
            # two nice-5 CPU hogs). A cluster given by address sets RAY_worker_niceness=0 itself.
            _system_config={"worker_niceness": 0},
        )
    return True


def _fold_ray_logs() -> None:
    """Ray's Python loggers write plain lines to stderr through a handler of their own; send
    them to the root logger instead, so they come out as our JSON lines (server/logs.py) with
    everything else. Warnings and above: Ray's info lines are start-up chatter."""
    ray_logger = logging.getLogger("ray")
    ray_logger.handlers.clear()
    ray_logger.propagate = True
    ray_logger.setLevel(logging.WARNING)


def reclaim_shutdown_signals() -> None:
    """Give SIGTERM and SIGINT back to this process's own handlers (the event loop's graceful
    exit). Ray's core worker puts abseil's failure-signal handler in front of them: on SIGTERM
    it prints a stack dump, as if the process had crashed, and arms a 3 s alarm that aborts the
    process (exit 134) when the graceful shutdown it chains to (WebSockets closing with 1001,
    buffers flushing, Ray disconnecting) takes longer. Setting the Python-level handler again
    reinstalls Python's own C handler. Main thread only (where signals are set); a no-op for a
    signal without a Python handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(sig)
        if callable(handler):
            signal.signal(sig, handler)


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()


async def ping() -> None:
    """Raise unless the Ray cluster answers within 1.5 s."""
    if not ray.is_initialized():
        raise RuntimeError("ray is not initialized")
    await asyncio.wait_for(asyncio.to_thread(ray.cluster_resources), 1.5)
