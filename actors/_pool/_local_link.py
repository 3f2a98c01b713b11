"""A same-host fast path to a pooled actor: batches over a private Unix socket instead of a Ray
call.

Measured under the `holds` load (one calendar shard, batches of about 30 requests): a Ray call
spent 5-7 ms getting a batch to the actor's event loop and its answer back, against 3-3.5 ms
of work inside the actor, and the shard pipe carries one batch at a time. The socket is served
by the actor's own event loop, so a batch costs one read and one write on each side.

Ray still places, names, restarts and health-checks the actors; only `handle_batch` traffic
takes the link, and only when the actor runs on this host (on another node the pool keeps
calling through Ray). The socket lives in a directory only this user can enter: a process that
can connect could already attach to the actor, so the pickled frames trust no one new.

Frames: a 4-byte big-endian length, then a pickle. One request frame is one batch; the answer
frame is `(True, results)` or `(False, exception)`. A connection carries one batch at a time:
sending the next batch while one was inside the actor measured no faster, and one at a time
keeps a key's requests in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import stat
import struct
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

HEADER = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024  # a corrupt length must not make us allocate without bound

Handler = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]


class LinkBroken(ConnectionError):
    """The actor's end went away (it died or restarts) or the link timed out mid-frame."""


def link_dir() -> Path | None:
    """The private directory for actor sockets, or None when it cannot be made private."""
    base = os.environ.get("CADENCE_LINK_DIR") or os.path.join(
        tempfile.gettempdir(), f"cadence-links-{os.getuid()}"
    )
    path = Path(base)
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    return path if private and stat.S_IMODE(info.st_mode) == 0o700 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(directory: Path) -> None:
    """Remove sockets left by actor processes that died (kill -9 leaves its file behind)."""
    for entry in directory.glob("*.sock"):
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                entry.unlink()


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > MAX_FRAME:
        raise LinkBroken(f"frame of {size} bytes")
    return pickle.loads(await reader.readexactly(size))


def _frame(obj: Any) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def _answer(ok: bool, value: Any) -> bytes:
    try:
        return _frame((ok, value))
    except Exception as exc:  # an exception that does not pickle still reaches the caller
        return _frame((False, RuntimeError(f"unpicklable {'result' if ok else 'error'}: {exc!r}")))


class LinkServer:
    """The actor's end: serves `handler` on a Unix socket until the process ends."""

    def __init__(self, server: asyncio.AbstractServer, path: str) -> None:
        self._server = server
        self.path = path

    @classmethod
    async def start(cls, name: str, handler: Handler) -> LinkServer | None:
        directory = link_dir()
        if directory is None:
            return None
        _sweep(directory)
        path = str(directory / f"{os.getpid()}-{name}.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    requests = await _read_frame(reader)
                    try:
                        reply = _answer(True, await handler(requests))
                    except Exception as exc:
                        reply = _answer(False, exc)
                    writer.write(reply)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, LinkBroken):
                pass  # the caller went away; its next link starts clean
            finally:
                writer.close()

        server = await asyncio.start_unix_server(serve, path=path)
        os.chmod(path, 0o600)
        return cls(server, path)


class Link:
    """The caller's end: one connection, one batch at a time (the pool's shard loop sends its
    batches one after another, so a stream of one key's requests keeps its order)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, path: str) -> Link:
        try:
            reader, writer = await asyncio.open_unix_connection(path)
        except OSError as exc:
            raise LinkBroken(str(exc)) from exc
        return cls(reader, writer)

    async def call(self, requests: list[Any], within_s: float) -> list[Any]:
        """The actor's results, or its exception re-raised; LinkBroken when the link broke or
        timed out (close it then: a frame may be half read)."""
        frame = _frame(requests)
        try:
            async with asyncio.timeout(within_s):
                self._writer.write(frame)
                await self._writer.drain()
                ok, value = await _read_frame(self._reader)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            raise LinkBroken(type(exc).__name__) from exc
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        self._writer.close()
