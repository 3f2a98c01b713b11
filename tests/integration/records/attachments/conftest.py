"""Attachments and blob stores: a moto S3 server for the session, a clinic (tests/integration/
messages' one: two patients, a specialist who treats the first), a small upload limit, and
files of each kind."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.integration.messages.conftest import Clinic, make_clinic
from tests.support.s3 import moto_server

Client = TestClient[web.Request, web.Application]
# Small, so a too-large upload stays a small request.
LIMIT = 256 * 1024


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, attachment_max_bytes=LIMIT)


@pytest_asyncio.fixture
async def clinic(client: Client) -> Clinic:
    return await make_clinic(client)


def _tail(size: int) -> bytes:
    # Random bytes after the magic number: every file is new content (its own blob).
    return os.urandom(size)


def pdf(size: int = 2048) -> bytes:
    return b"%PDF-1.7\n" + _tail(size)


def png(size: int = 2048) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _tail(size)


def jpeg(size: int = 2048) -> bytes:
    return b"\xff\xd8\xff\xe0" + _tail(size)


def webp(size: int = 2048) -> bytes:
    return b"RIFF" + (size + 4).to_bytes(4, "little") + b"WEBP" + _tail(size)


def heic(size: int = 2048) -> bytes:
    return b"\x00\x00\x00\x18ftypheic" + _tail(size)
