"""The embedded store: content-addressed files under one directory, served by the server's own
download route through signed, expiring tokens (the default of `make run` and the tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.blobs._contract import BlobStoreConfigError, Link, StoredBlob, is_key, key_of
from storage.blobs._metrics import BYTES, OPERATIONS
from storage.blobs._signing import LinkClaims, LinkSigner
from storage.errors import NotFound, Unavailable

_STORE = "local"
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class LocalBlobStore:
    """Blobs as files `<directory>/sha256/<2 hex>/<64 hex>`. `link_base` is the path (or URL) of
    the route that answers `resolve` for a token: `<link_base>/<token>`."""

    def __init__(self, directory: str | Path, signer: LinkSigner, *, link_base: str) -> None:
        self.directory = Path(directory)
        self._signer = signer
        self._link_base = link_base.rstrip("/")

    async def start(self) -> None:
        """Create the directory; BlobStoreConfigError when it cannot be written."""
        try:
            await asyncio.to_thread(_check_writable, self.directory)
        except OSError as exc:
            raise BlobStoreConfigError(
                f"blob directory {str(self.directory)!r} is not writable: {exc.strerror or exc}"
            ) from None

    def _path(self, key: str) -> Path:
        if not is_key(key):  # never a path of the caller's making
            raise NotFound("blob")
        digest = key.removeprefix("sha256/")
        return self.directory / "sha256" / digest[:2] / digest

    async def put(self, data: bytes, content_type: str) -> StoredBlob:
        key, digest = key_of(data)
        try:
            written = await asyncio.to_thread(_write_once, self._path(key), data)
        except OSError as exc:
            OPERATIONS.labels(_STORE, "put", "error").inc()
            raise Unavailable("the blob store cannot write") from exc
        OPERATIONS.labels(_STORE, "put", "stored" if written else "exists").inc()
        if written:
            BYTES.labels(_STORE, "in").inc(len(data))
        return StoredBlob(key, digest, len(data), content_type)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            OPERATIONS.labels(_STORE, "get", "missing").inc()
            raise NotFound("blob") from None
        except OSError as exc:
            OPERATIONS.labels(_STORE, "get", "error").inc()
            raise Unavailable("the blob store cannot read") from exc
        OPERATIONS.labels(_STORE, "get", "ok").inc()
        BYTES.labels(_STORE, "out").inc(len(data))
        return data

    async def link(
        self,
        key: str,
        *,
        ttl_s: int = 300,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> Link:
        self._path(key)  # a key of the right shape, or NotFound
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_s)
        token = self._signer.sign(
            LinkClaims(key, expires_at, filename, content_type or DEFAULT_CONTENT_TYPE)
        )
        return Link(f"{self._link_base}/{token}", expires_at)

    def resolve(self, token: str, now: datetime) -> tuple[Path, LinkClaims]:
        """The file a token names and what it says about it. BadLink / ExpiredLink from the
        signer; NotFound when the token is genuine but the file is gone."""
        claims = self._signer.verify(token, now)
        path = self._path(claims.key)
        if not path.is_file():
            raise NotFound("blob")
        OPERATIONS.labels(_STORE, "get", "ok").inc()
        return path, claims


def _check_writable(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory):
        pass


def _write_once(path: Path, data: bytes) -> bool:
    """Write `data` at `path` unless a file is there already (same key, same bytes). The bytes
    go to a temporary file in the same directory, flushed to disk, then renamed over: a crash
    leaves at most a stray temporary file, never a partial file under the key."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
    return True
