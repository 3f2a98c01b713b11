"""Load generators as separate processes, each measuring its own CPU use.

One Python process drives at most one core, so a scenario that needs more load than a core's
worth spreads it over a Fleet of processes. Each generator reports the CPU it used while it
generated load; a generator near a full core was measuring itself, and the report says so.

A generator is a module-level coroutine function `async def gen(index, arg, link) -> data`,
named "package.module:function" (spawned processes import it). It may call
`await link.ready(info)` once its set-up is done (connections opened) and then
`await link.wait_go()`: the parent collects every `ready`, measures what it wants (server RSS),
and releases them all at once with `fleet.go()`. The CPU window starts at `wait_go` (or at the
start when a generator does not use it) and ends when the coroutine returns.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing as mp
import queue
import threading
import time
import traceback
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import psutil

from bench.schema import SATURATED_CPU_PERCENT

SAMPLE_S = 0.5


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class Link:
    """The generator's side: readiness, the common start signal and its CPU window."""

    def __init__(self, index: int, out: Any, go: Any) -> None:
        self.index = index
        self._out = out
        self._go = go
        self._proc = psutil.Process()
        self.peak = 0.0
        self._stop = threading.Event()
        self.restart_window()
        threading.Thread(target=self._sample, daemon=True).start()

    def restart_window(self) -> None:
        self.cpu0 = _cpu_s(self._proc)
        self.t0 = time.monotonic()
        self.peak = 0.0

    def _sample(self) -> None:
        # Peak CPU over half-second windows: a generator can saturate in bursts that an average
        # over a long run hides.
        last_cpu, last_t = _cpu_s(self._proc), time.monotonic()
        while not self._stop.wait(SAMPLE_S):
            cpu, now = _cpu_s(self._proc), time.monotonic()
            self.peak = max(self.peak, 100.0 * (cpu - last_cpu) / max(now - last_t, 1e-9))
            last_cpu, last_t = cpu, now

    async def ready(self, info: Any = None) -> None:
        self._out.put(("ready", self.index, info))

    async def wait_go(self, within_s: float = 600, reset_window: bool = True) -> None:
        """Wait for the runner's common start; the CPU window starts here unless told not to
        (when the set-up itself is the load, such as opening connections)."""
        if not await asyncio.to_thread(self._go.wait, within_s):
            raise TimeoutError("no go signal from the bench runner")
        if reset_window:
            self.restart_window()

    def usage(self) -> dict[str, float]:
        self._stop.set()
        wall = max(time.monotonic() - self.t0, 1e-9)
        cpu = 100.0 * (_cpu_s(self._proc) - self.cpu0) / wall
        return {
            "cpu_percent": round(cpu, 1),
            "peak_cpu_percent": round(self.peak, 1),
            "wall_s": round(wall, 2),
            "rss_mb": round(self._proc.memory_info().rss / 2**20, 1),
        }


def _child(target: str, index: int, arg: Any, out: Any, go: Any) -> None:
    try:
        module, name = target.split(":")
        fn = getattr(importlib.import_module(module), name)
        link = Link(index, out, go)
        data = asyncio.run(fn(index, arg, link))
        out.put(("done", index, {"data": data, **link.usage()}))
    except BaseException:  # noqa: BLE001 - every failure goes back to the parent, verbatim
        out.put(("error", index, traceback.format_exc()[-3000:]))


class GeneratorFailed(RuntimeError):
    pass


class Fleet:
    """N generator processes running `target` with one argument each."""

    def __init__(self, target: str, args: Sequence[Any], name: str = "generator") -> None:
        self.target = target
        self.args = list(args)
        self.name = name
        ctx = mp.get_context("spawn")  # no inherited event loops, sockets or Ray state
        self._out = ctx.Queue()
        self._go = ctx.Event()
        self._procs = [
            ctx.Process(target=_child, args=(target, i, a, self._out, self._go), daemon=True)
            for i, a in enumerate(self.args)
        ]
        self._pending: list[tuple[str, int, Any]] = []
        self.reports: list[dict[str, Any]] = []

    async def __aenter__(self) -> Fleet:
        for proc in self._procs:
            proc.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs:
            await asyncio.to_thread(proc.join, 10)

    async def _next(self, deadline: float) -> tuple[str, int, Any]:
        while True:
            if self._pending:
                return self._pending.pop(0)
            try:
                return await asyncio.to_thread(self._out.get, True, 0.5)
            except queue.Empty:
                pass
            dead = [p for p in self._procs if p.exitcode not in (None, 0)]
            if dead:
                raise GeneratorFailed(f"{self.name} process exited with {dead[0].exitcode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: generators did not answer in time")

    async def ready(self, within_s: float = 300) -> list[Any]:
        """Each generator's `ready` info (in index order) once all of them are set up."""
        deadline = time.monotonic() + within_s
        infos: dict[int, Any] = {}
        early: list[tuple[str, int, Any]] = []
        while len(infos) < len(self._procs):
            kind, index, payload = await self._next(deadline)
            if kind == "error":
                raise GeneratorFailed(f"{self.name} {index}: {payload}")
            if kind == "done":  # a generator without a set-up phase
                early.append((kind, index, payload))
                infos[index] = None
            else:
                infos[index] = payload
        self._pending.extend(early)
        return [infos[i] for i in range(len(self._procs))]

    def go(self) -> None:
        self._go.set()

    async def results(self, within_s: float = 600) -> list[Any]:
        """Each generator's return value (in index order); CPU use lands in `self.reports`."""
        self.go()
        deadline = time.monotonic() + within_s
        done: dict[int, dict[str, Any]] = {}
        while len(done) < len(self._procs):
            kind, index, payload = await self._next(deadline)
            if kind == "error":
                raise GeneratorFailed(f"{self.name} {index}: {payload}")
            if kind == "done":
                done[index] = payload
        self.reports = [
            {
                "name": f"{self.name} {i}",
                **{k: v for k, v in done[i].items() if k != "data"},
                "saturated": done[i]["cpu_percent"] >= SATURATED_CPU_PERCENT,
            }
            for i in range(len(self._procs))
        ]
        return [done[i]["data"] for i in range(len(self._procs))]


async def run_fleet(
    target: str, args: Sequence[Any], name: str = "generator", within_s: float = 600
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Run generators without a set-up phase: (their return values, their CPU reports)."""
    async with Fleet(target, args, name) as fleet:
        data = await fleet.results(within_s)
        return data, fleet.reports


def split(total: int, parts: int) -> list[int]:
    """`total` spread over `parts` as evenly as integers allow."""
    parts = max(1, parts)
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
