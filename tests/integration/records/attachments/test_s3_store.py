"""The S3 store against a real S3-compatible server (moto's server mode): content-addressed puts
stored once, presigned GET and PUT URLs fetched over HTTP, multipart uploads above one part, a
clear start-up error for a missing bucket, and Unavailable when the service is gone."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import socket
from collections.abc import AsyncIterator

import aioboto3
import aiohttp
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from storage.blobs import BlobStoreConfigError, S3BlobStore, key_of
from storage.errors import NotFound, Unavailable
from tests.integration.records.attachments.conftest import pdf, png
from tests.support import s3
from tests.support.proxy import CuttableProxy

MIB = 1024 * 1024


@pytest_asyncio.fixture
async def bucket(s3_endpoint: str) -> str:
    return await s3.create_bucket(s3_endpoint)


@pytest_asyncio.fixture
async def store(s3_endpoint: str, bucket: str) -> AsyncIterator[S3BlobStore]:
    opened = S3BlobStore(s3.config(s3_endpoint, bucket))
    await opened.start()
    yield opened
    await opened.close()


def _puts(outcome: str) -> float:
    found = REGISTRY.get_sample_value(
        "cadence_blob_operations_total", {"store": "s3", "op": "put", "outcome": outcome}
    )
    return found or 0.0


async def _objects(endpoint: str, bucket: str) -> list[dict[str, object]]:
    async with aioboto3.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=s3.REGION,
        aws_access_key_id=s3.ACCESS_KEY_ID,
        aws_secret_access_key=s3.SECRET_ACCESS_KEY,
    ) as client:
        listed = await client.list_objects_v2(Bucket=bucket)
        return list(listed.get("Contents", []))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_the_same_bytes_are_stored_once_under_their_content_key(
    store: S3BlobStore, s3_endpoint: str, bucket: str
) -> None:
    data = pdf()
    stored_before, exists_before = _puts("stored"), _puts("exists")
    first = await store.put(data, "application/pdf")
    again = await store.put(data, "application/pdf")
    assert first == again
    assert first.key == "sha256/" + hashlib.sha256(data).hexdigest() == key_of(data)[0]
    assert (first.size, first.content_type) == (len(data), "application/pdf")
    assert await store.get(first.key) == data
    objects = await _objects(s3_endpoint, bucket)
    assert [o["Key"] for o in objects] == [first.key]
    # The second put asked (HEAD) and uploaded nothing.
    assert (_puts("stored"), _puts("exists")) == (stored_before + 1, exists_before + 1)


async def test_a_missing_key_is_not_found(store: S3BlobStore) -> None:
    with pytest.raises(NotFound):
        await store.get(key_of(b"never stored")[0])
    with pytest.raises(NotFound):
        await store.get("../../etc/passwd")


async def test_a_presigned_get_link_downloads_the_bytes_with_their_name_and_type(
    store: S3BlobStore,
) -> None:
    data = png()
    blob = await store.put(data, "image/png")
    link = await store.link(
        blob.key, ttl_s=120, filename='Röntgen "knee".png', content_type="image/png"
    )
    assert link.url.startswith(store.config.endpoint_url)
    async with aiohttp.ClientSession() as http, http.get(link.url) as answer:
        assert answer.status == 200
        assert await answer.read() == data
        assert answer.headers["Content-Type"] == "image/png"
        disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''R%C3%B6ntgen%20%22knee%22.png" in disposition


async def test_a_presigned_put_link_takes_a_browser_upload_under_the_content_key(
    store: S3BlobStore,
) -> None:
    data = pdf()
    digest = hashlib.sha256(data).hexdigest()
    key, link = await store.upload_link(digest, content_type="application/pdf", ttl_s=120)
    assert key == f"sha256/{digest}"
    headers = {
        "Content-Type": "application/pdf",
        "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(digest)).decode(),
    }
    async with aiohttp.ClientSession() as http:
        answer = await http.put(link.url, data=data, headers=headers)
        assert answer.status == 200, await answer.text()
    assert await store.get(key) == data


async def test_bytes_above_one_part_go_up_in_parts(
    store: S3BlobStore, s3_endpoint: str, bucket: str
) -> None:
    data = os.urandom(8 * MIB + 4096)  # two parts of 8 MiB at most
    blob = await store.put(data, "application/pdf")
    assert await store.get(blob.key) == data
    (stored,) = await _objects(s3_endpoint, bucket)
    # A multipart object's ETag is "<md5 of the parts' md5s>-<number of parts>".
    assert str(stored["ETag"]).strip('"').endswith("-2")
    assert stored["Size"] == len(data)


async def test_a_missing_bucket_fails_start_up_in_one_line_naming_it(s3_endpoint: str) -> None:
    missing = S3BlobStore(s3.config(s3_endpoint, "no-such-bucket-here"))
    with pytest.raises(BlobStoreConfigError) as failed:
        await missing.start()
    message = str(failed.value)
    assert "\n" not in message
    assert "'no-such-bucket-here'" in message and s3_endpoint in message
    assert "does not exist" in message


async def test_an_unreachable_service_fails_start_up_clearly() -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    nowhere = S3BlobStore(s3.config(endpoint, "cadence"))
    with pytest.raises(BlobStoreConfigError) as failed:
        await nowhere.start()
    assert "unreachable" in str(failed.value) and endpoint in str(failed.value)


async def test_a_service_gone_after_start_is_unavailable(s3_endpoint: str, bucket: str) -> None:
    host, port = s3_endpoint.removeprefix("http://").split(":")
    proxy = CuttableProxy(host, int(port))
    await proxy.start()
    store = S3BlobStore(s3.config(f"http://127.0.0.1:{proxy.port}", bucket))
    await store.start()
    try:
        kept = await store.put(pdf(), "application/pdf")
        await proxy.cut()
        with pytest.raises(Unavailable):
            await store.put(pdf(), "application/pdf")
        with pytest.raises(Unavailable):
            await store.put(os.urandom(8 * MIB + 1), "application/pdf")  # multipart
        with pytest.raises(Unavailable):
            await store.get(kept.key)
        await proxy.restore()
        assert await store.get(kept.key) != b""
    finally:
        await store.close()
        await proxy.cut()


async def test_links_are_signed_for_the_public_endpoint_when_one_is_set(
    s3_endpoint: str, bucket: str
) -> None:
    public = s3_endpoint.replace("127.0.0.1", "localhost")  # as a browser outside Docker
    store = S3BlobStore(
        dataclasses.replace(s3.config(s3_endpoint, bucket), public_endpoint_url=public)
    )
    await store.start()
    try:
        data = pdf()
        blob = await store.put(data, "application/pdf")
        link = await store.link(blob.key, content_type="application/pdf")
        assert link.url.startswith(public + "/")
        async with aiohttp.ClientSession() as http, http.get(link.url) as answer:
            assert answer.status == 200
            assert await answer.read() == data
    finally:
        await store.close()
