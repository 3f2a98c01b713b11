from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.settings import Settings
from tests.support.services import app_password, base_urls, fresh_database, redis_prefix

_counter = itertools.count()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database() as dsn:
        yield dsn


@pytest.fixture(scope="session")
def run_prefix() -> Iterator[str]:
    with redis_prefix() as prefix:
        yield prefix


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    from actors._pool import runtime

    started = runtime.connect(num_cpus=2)
    yield
    if started:
        runtime.disconnect()


@pytest.fixture(scope="session")
def mail_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where the run's servers write outgoing mail: a temporary inbox, not the checkout."""
    return str(tmp_path_factory.mktemp("mail"))


@pytest.fixture
def settings(
    database_url: str,
    run_prefix: str,
    ray_session: None,
    mail_dir: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """Settings for one test: the run's database, and a Redis prefix of the test's own."""
    _, redis_url = base_urls()
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CADENCE_ENV": "test",
            "CADENCE_REDIS_PREFIX": f"{run_prefix}{next(_counter)}:",
            "CADENCE_SECRET": "test-secret-" + "x" * 40,
            "CADENCE_DB_APP_PASSWORD": app_password(),
            "CADENCE_MAIL_DIR": mail_dir,
            # The run's blobs (the embedded store): temporary, not the checkout's .data/.
            "CADENCE_BLOB_DIR": str(tmp_path_factory.getbasetemp() / "blobs"),
        }
    )


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest_asyncio.fixture
async def client(
    app: web.Application, aiohttp_client: AiohttpClient
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    yield await aiohttp_client(app)
