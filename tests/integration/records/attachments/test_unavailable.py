"""Attachments with S3 (moto's server mode behind a proxy the test can cut): a download link
that is a presigned S3 URL, and object storage gone mid-upload: 503 with the envelope and no
row, then uploads work again once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.resources import BLOBS_KEY
from server.settings import Settings
from storage.blobs import S3BlobStore
from storage.types import Role
from tests.integration.messages.conftest import Clinic, make_clinic
from tests.integration.records.attachments.conftest import pdf
from tests.integration.records.attachments.test_attachments import upload
from tests.support import s3
from tests.support.proxy import CuttableProxy

Client = TestClient[web.Request, web.Application]


@pytest_asyncio.fixture
async def proxy(s3_endpoint: str) -> AsyncIterator[CuttableProxy]:
    host, port = s3_endpoint.removeprefix("http://").split(":")
    cuttable = CuttableProxy(host, int(port))
    await cuttable.start()
    yield cuttable
    await cuttable.cut()


@pytest_asyncio.fixture
async def s3_clinic(
    settings: Settings, s3_endpoint: str, proxy: CuttableProxy, aiohttp_client: AiohttpClient
) -> Clinic:
    bucket = await s3.create_bucket(s3_endpoint)
    through_proxy = s3.with_s3(settings, f"http://127.0.0.1:{proxy.port}", bucket)
    client = await aiohttp_client(create_app(through_proxy))
    assert isinstance(client.app[BLOBS_KEY], S3BlobStore)
    return await make_clinic(client)


async def _rows(clinic: Clinic) -> int:
    status, listed = await clinic.call(
        "GET", f"/v1/patients/{clinic.patient}/attachments?limit=200", clinic.token(Role.ADMIN)
    )
    assert status == 200
    return len(listed["data"])


async def test_a_link_is_a_presigned_s3_url(s3_clinic: Clinic) -> None:
    admin = s3_clinic.token(Role.ADMIN)
    data = pdf()
    status, created = await upload(s3_clinic, admin, data, "scan.pdf")
    assert status == 201, created
    status, shown = await s3_clinic.call("GET", f"/v1/attachments/{created['id']}", admin)
    assert status == 200
    assert "X-Amz-Signature=" in shown["link"]["url"]
    async with aiohttp.ClientSession() as http, http.get(shown["link"]["url"]) as answer:
        assert answer.status == 200
        assert await answer.read() == data
        assert answer.headers["Content-Type"] == "application/pdf"


async def test_object_storage_gone_mid_upload_is_503_and_nothing_is_written(
    s3_clinic: Clinic, proxy: CuttableProxy
) -> None:
    admin = s3_clinic.token(Role.ADMIN)
    assert (await upload(s3_clinic, admin, pdf(), "before.pdf"))[0] == 201
    await proxy.cut()
    status, body = await upload(s3_clinic, admin, pdf(), "during.pdf")
    assert status == 503
    assert body["error"]["code"] == "unavailable"
    assert await _rows(s3_clinic) == 1  # only the one before
    await proxy.restore()
    assert (await upload(s3_clinic, admin, pdf(), "after.pdf"))[0] == 201
    assert await _rows(s3_clinic) == 2
