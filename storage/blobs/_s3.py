"""S3 (or an S3-compatible server: MinIO, moto) through aioboto3.

One client per store, opened by `start` and closed by `close` (the server's cleanup context).
Writes are content-addressed, so a put first asks whether the key exists (HEAD) and uploads
nothing when it does. Bytes above one part go up in parts (multipart upload, aborted on any
failure so no orphaned parts are billed). Downloads and browser uploads use presigned URLs: the
bytes never pass through the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from storage.blobs._contract import (
    BlobStoreConfigError,
    Link,
    StoredBlob,
    content_disposition,
    is_key,
    key_of,
    key_of_digest,
)
from storage.blobs._metrics import BYTES, OPERATIONS
from storage.errors import NotFound, Unavailable

_STORE = "s3"
MIB = 1024 * 1024
# Failures of reaching the service at all (refused, reset, timed out, DNS), as botocore and the
# aiohttp session under it raise them.
_UNREACHABLE = (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError)
_ABORT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class S3Config:
    bucket: str
    endpoint_url: str = ""  # empty: AWS itself
    # Where browsers reach the same service, when not at `endpoint_url` (a MinIO the server
    # calls by its Docker name): links are signed for this host.
    public_endpoint_url: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""  # empty (both): botocore's own credential chain
    secret_access_key: str = field(default="", repr=False)
    # Objects above one part are uploaded in parts of this size (S3's minimum is 5 MiB).
    part_size: int = 8 * MIB
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    @property
    def where(self) -> str:
        return self.endpoint_url or f"AWS S3 ({self.region})"


def _md5(data: bytes | memoryview) -> str:
    # Content-MD5: the service refuses bytes damaged on the way (every S3-compatible server
    # checks it, unlike the newer checksum headers).
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    def __init__(self, config: S3Config) -> None:
        if config.part_size < 5 * MIB:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.config = config
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._signer: Any = None  # the client that presigns links (no requests of its own)

    async def start(self) -> None:
        """Open the client and check the bucket: BlobStoreConfigError (one line naming the
        bucket and the endpoint) when it is missing, refused or unreachable."""
        c = self.config
        session = aioboto3.Session()
        client_config = AioConfig(
            connect_timeout=c.connect_timeout_s,
            read_timeout=c.read_timeout_s,
            retries={"max_attempts": 2, "mode": "standard"},
            signature_version="s3v4",  # presigned URLs too (botocore may presign with v2)
            # Path-style addressing: S3-compatible servers (MinIO, moto) on a plain host:port.
            s3={"addressing_style": "path"} if c.endpoint_url else {},
            # Checksums only where the API requires them: S3-compatible servers differ in the
            # newer ones, and every body carries Content-MD5 instead.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        credentials = (
            {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}
            if c.access_key_id
            else {}
        )

        def client(endpoint: str) -> Any:
            return session.client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=c.region,
                config=client_config,
                **credentials,
            )

        self._client = await self._stack.enter_async_context(client(c.endpoint_url))
        self._signer = self._client
        if c.public_endpoint_url:
            self._signer = await self._stack.enter_async_context(client(c.public_endpoint_url))
        try:
            await self._client.head_bucket(Bucket=c.bucket)
        except ClientError as exc:
            await self.close()
            status = _status(exc)
            if status == 404:
                problem = "does not exist"
            elif status == 403:
                problem = "refuses these credentials"
            else:
                problem = f"answered {status or _code(exc)}"
            raise BlobStoreConfigError(
                f"object storage: bucket {c.bucket!r} at {c.where} {problem}"
            ) from None
        except _UNREACHABLE as exc:
            await self.close()
            raise BlobStoreConfigError(
                f"object storage: {c.where} is unreachable (bucket {c.bucket!r}): "
                f"{type(exc).__name__}"
            ) from None

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = self._signer = None

    @asynccontextmanager
    async def _reaching(self, op: str) -> AsyncIterator[None]:
        """The service's failures as Unavailable (counted); NotFound passes through."""
        try:
            yield
        except NotFound:
            OPERATIONS.labels(_STORE, op, "missing").inc()
            raise
        except ClientError as exc:
            OPERATIONS.labels(_STORE, op, "error").inc()
            raise Unavailable(
                "object storage refused the request", {"status": _status(exc), "code": _code(exc)}
            ) from exc
        except _UNREACHABLE as exc:
            OPERATIONS.labels(_STORE, op, "error").inc()
            raise Unavailable("object storage is unreachable") from exc

    async def _exists(self, key: str) -> bool:
        try:
            await self._client.head_object(Bucket=self.config.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise
        return True

    async def put(self, data: bytes, content_type: str) -> StoredBlob:
        key, digest = key_of(data)
        stored = StoredBlob(key, digest, len(data), content_type)
        async with self._reaching("put"):
            if await self._exists(key):
                OPERATIONS.labels(_STORE, "put", "exists").inc()
                return stored
            if len(data) > self.config.part_size:
                await self._multipart(key, data, content_type)
            else:
                await self._client.put_object(
                    Bucket=self.config.bucket,
                    Key=key,
                    Body=data,
                    ContentType=content_type,
                    ContentMD5=_md5(data),
                )
        OPERATIONS.labels(_STORE, "put", "stored").inc()
        BYTES.labels(_STORE, "in").inc(len(data))
        return stored

    async def _multipart(self, key: str, data: bytes, content_type: str) -> None:
        bucket, size = self.config.bucket, self.config.part_size
        created = await self._client.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=content_type
        )
        upload_id = created["UploadId"]
        try:
            view = memoryview(data)
            parts = []
            for number, offset in enumerate(range(0, len(data), size), start=1):
                chunk = view[offset : offset + size]
                answer = await self._client.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=bytes(chunk),
                    ContentMD5=_md5(chunk),
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
            await self._client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Best effort: when the service is gone the abort fails too, and the bucket's
            # lifecycle rule for incomplete uploads (docs) collects the parts.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_ABORT_TIMEOUT_S):
                    await self._client.abort_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload_id
                    )
            raise

    async def get(self, key: str) -> bytes:
        if not is_key(key):
            raise NotFound("blob")
        async with self._reaching("get"):
            try:
                answer = await self._client.get_object(Bucket=self.config.bucket, Key=key)
            except ClientError as exc:
                if _status(exc) == 404:
                    raise NotFound("blob") from None
                raise
            async with answer["Body"] as body:
                data: bytes = await body.read()
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
        if not is_key(key):
            raise NotFound("blob")
        params = {"Bucket": self.config.bucket, "Key": key}
        if content_type:
            params["ResponseContentType"] = content_type
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return await self._presign("get_object", params, ttl_s)

    async def upload_link(
        self, sha256: str, *, content_type: str, ttl_s: int = 300
    ) -> tuple[str, Link]:
        """(key, a presigned PUT URL) for a browser to upload bytes whose SHA-256 is `sha256`
        straight to the bucket. The PUT must send `Content-Type: content_type` and
        `x-amz-checksum-sha256` (the digest, base64): both are signed, and S3 refuses bytes
        that do not hash to the key they are stored under."""
        try:
            key = key_of_digest(sha256)
        except ValueError:
            raise NotFound("blob") from None
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        params = {
            "Bucket": self.config.bucket,
            "Key": key,
            "ContentType": content_type,
            "ChecksumSHA256": checksum,
        }
        return key, await self._presign("put_object", params, ttl_s)

    async def _presign(self, method: str, params: dict[str, str], ttl_s: int) -> Link:
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_s)
        # Signed locally: no request to the service.
        url: str = await self._signer.generate_presigned_url(method, Params=params, ExpiresIn=ttl_s)
        return Link(url, expires_at)
