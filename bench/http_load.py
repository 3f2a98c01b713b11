"""A keep-alive HTTP/1.1 client for load generators: requests written whole, responses read by
Content-Length, no cookie jar, no redirects, no per-request objects beyond the answer.

The generators share the 2 cores with the server under test. Under the `holds` load aiohttp's
client spent about 0.27 ms of CPU per hold+release (two requests) in the generator processes:
a quarter of the machine's CPU per hold went to measuring it. wrk and h2load exist for the
same reason; this is the same idea in a page of Python, for the requests the bench makes.

It speaks only what the bench needs: one request at a time per connection, bodies in JSON,
responses with Content-Length (aiohttp's server sends one for every response without a
streamed body). Anything else is an error, never a guess.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson

MAX_HEAD = 64 * 1024


class HttpError(Exception):
    """The server's answer was not HTTP/1.1 this client can read."""


# What a request may raise when the server or the connection fails (not a status code).
LOAD_ERRORS = (HttpError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """(status, body, whether the server keeps the connection open)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD or not head.startswith(b"HTTP/1.1 "):
            raise HttpError(head[:80].decode(errors="replace"))
        status = int(head[9:12])
        length = 0
        keep = True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding":
                raise HttpError("chunked response")
            elif key == b"connection" and value.strip().lower() == b"close":
                keep = False
        body = await self.reader.readexactly(length) if length else b""
        return status, body, keep

    def close(self) -> None:
        self.writer.close()


class LoadClient:
    """Requests to one server over a pool of keep-alive connections (one per request in
    flight, opened on demand, reused after)."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"http://host:port expected, got {base!r}")
        self._host = url.hostname
        self._port = url.port or 80
        self._host_header = f"Host: {url.netloc}\r\n".encode()
        self._idle: list[_Conn] = []

    async def request(
        self, method: str, path: str, headers: dict[str, str], json: object = None
    ) -> tuple[int, bytes]:
        body = b"" if json is None else orjson.dumps(json)
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        head += [f"{k}: {v}\r\n".encode() for k, v in headers.items()]
        if json is not None:
            head.append(b"Content-Type: application/json\r\n")
        head.append(b"Content-Length: %d\r\n\r\n" % len(body))
        request = b"".join(head) + body
        conn = self._idle.pop() if self._idle else await self._open()
        try:
            status, answer, keep = await conn.exchange(request)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn.close()
        return status, answer

    async def _open(self) -> _Conn:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        return _Conn(reader, writer)

    async def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
