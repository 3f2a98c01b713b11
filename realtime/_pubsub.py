"""One Redis connection in subscribe mode per server process.

Written on hiredis directly rather than redis-py's PubSub because the gateway needs two things
that one does not expose: the moment Redis *confirms* a SUBSCRIBE (only messages published after
it are guaranteed to arrive, which the join-without-gap logic relies on), and a generation number
that changes whenever the connection was lost (every subscription then resyncs from its last
offset). Reads have no timeout (a quiet channel is normal); liveness comes from our own PINGs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import hiredis

log = logging.getLogger("cadence.realtime.pubsub")

MessageHandler = Callable[[bytes, bytes], None]  # topic, payload


def _command(*parts: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class PubSubLink:
    def __init__(
        self,
        url: str,
        on_message: MessageHandler,
        on_reconnect: Callable[[int], None],
        *,
        ping_s: float = 5.0,
        dead_after_s: float = 15.0,
        connect_timeout_s: float = 2.0,
        name: str = "cadence-gateway",
    ) -> None:
        self.name = name  # CLIENT SETNAME: operators (and tests) can find the link
        self._url = url
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._ping_s = ping_s
        self._dead_after_s = dead_after_s
        self._connect_timeout_s = connect_timeout_s
        self._wanted: set[str] = set()
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self.generation = 0  # incremented on every (re)connection
        self.connected = asyncio.Event()

    async def subscribe(self, topic: str, timeout_s: float = 5.0) -> int:
        """Ensure `topic` is subscribed; returns the generation of the connection on which Redis
        confirmed it. Every message published after this returns reaches `on_message`."""
        self._wanted.add(topic)
        if topic in self._confirmed:
            return self.generation
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(topic, []).append(future)
        self._send(_command("SUBSCRIBE", topic))
        async with asyncio.timeout(timeout_s):
            return await future

    def unsubscribe(self, topic: str) -> None:
        self._wanted.discard(topic)
        self._confirmed.discard(topic)
        self._send(_command("UNSUBSCRIBE", topic))

    def _send(self, data: bytes) -> None:
        # While disconnected the command is dropped: the reconnect resubscribes `_wanted`.
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def run(self) -> None:
        """Connect, resubscribe, read; on any loss reconnect with capped exponential backoff."""
        delay = 0.05
        while True:
            try:
                reader, writer = await self._connect()
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning("pub/sub connect failed: %s; retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.05
            self.generation += 1
            self._confirmed.clear()
            self._writer = writer
            if self._wanted:
                writer.write(_command("SUBSCRIBE", *sorted(self._wanted)))
            self.connected.set()
            if self.generation > 1:
                self._on_reconnect(self.generation)
            pinger = asyncio.create_task(self._ping(writer))
            try:
                await self._read(reader)
            except (OSError, TimeoutError, ConnectionError, hiredis.ProtocolError) as exc:
                log.warning("pub/sub connection lost: %s", exc)
            finally:
                self.connected.clear()
                self._writer = None
                pinger.cancel()
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self._url)
        async with asyncio.timeout(self._connect_timeout_s):
            if parts.scheme == "unix":
                reader, writer = await asyncio.open_unix_connection(parts.path)
            else:
                context = ssl.create_default_context() if parts.scheme == "rediss" else None
                reader, writer = await asyncio.open_connection(
                    parts.hostname or "127.0.0.1", parts.port or 6379, ssl=context
                )
            if parts.password:
                user = unquote(parts.username) if parts.username else "default"
                writer.write(_command("AUTH", user, unquote(parts.password)))
                line = await reader.readline()
                if not line.startswith(b"+OK"):
                    writer.close()
                    raise ConnectionError("Redis AUTH refused")
            writer.write(_command("CLIENT", "SETNAME", self.name))
            if not (await reader.readline()).startswith(b"+OK"):
                writer.close()
                raise ConnectionError("Redis refused CLIENT SETNAME")
        return reader, writer

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self._ping_s)
            if writer.is_closing():
                return
            writer.write(_command("PING"))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader()
        on_message = self._on_message
        while True:
            async with asyncio.timeout(self._dead_after_s):
                data = await reader.read(256 * 1024)
            if not data:
                raise ConnectionError("Redis closed the pub/sub connection")
            parser.feed(data)
            while (reply := parser.gets()) is not False:
                if not isinstance(reply, list) or len(reply) < 2:
                    continue
                kind = reply[0]
                if kind == b"message":
                    on_message(reply[1], reply[2])
                elif kind == b"subscribe":
                    self._confirm(reply[1].decode())

    def _confirm(self, topic: str) -> None:
        if topic not in self._wanted:
            return  # unsubscribed again before the confirmation arrived
        self._confirmed.add(topic)
        for future in self._waiters.pop(topic, ()):
            if not future.done():
                future.set_result(self.generation)
