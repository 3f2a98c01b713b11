"""Uploads are bounded by the attachment limit, not by the JSON body limit of every other
endpoint (CADENCE_MAX_BODY_BYTES, 1 MiB by default): a file of several MiB is taken, one over
the attachment limit is refused with 413 from its declared length, before it is read."""

from __future__ import annotations

import dataclasses

import pytest_asyncio
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.settings import Settings
from storage.types import Role
from tests.integration.messages.conftest import Clinic, make_clinic
from tests.integration.records.attachments.conftest import pdf
from tests.integration.records.attachments.test_attachments import upload

MIB = 1024 * 1024


@pytest_asyncio.fixture
async def roomy(settings: Settings, aiohttp_client: AiohttpClient) -> Clinic:
    app = create_app(dataclasses.replace(settings, attachment_max_bytes=4 * MIB))
    assert app._client_max_size < 4 * MIB  # the JSON limit is below the attachment limit
    return await make_clinic(await aiohttp_client(app))


async def test_a_file_above_the_json_limit_and_within_the_attachment_limit(roomy: Clinic) -> None:
    admin = roomy.token(Role.ADMIN)
    data = pdf(3 * MIB)
    status, created = await upload(roomy, admin, data, "scan.pdf")
    assert status == 201, created
    assert created["size"] == len(data)
    status, body = await upload(roomy, admin, pdf(5 * MIB), "scan.pdf")
    assert status == 413
    assert body["error"]["details"] == {"max_bytes": 4 * MIB}
