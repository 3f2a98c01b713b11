"""Scale-out fixtures: the run's database for the replicas (its own, migrated once), a private
temporary directory short enough for Ray's Unix sockets, and Debian's haproxy."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.devstack import haproxy_binary
from tests.support.services import fresh_database


@pytest.fixture(scope="session")
def scaleout_database() -> Iterator[str]:
    with fresh_database() as dsn:
        yield dsn


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """Ray's files for one cluster (sockets have a 107-byte path limit: a short /tmp name)."""
    path = Path(tempfile.mkdtemp(prefix="cso", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def haproxy() -> str:
    binary = os.environ.get("HAPROXY_BIN") or haproxy_binary()
    if not binary:
        pytest.skip("haproxy is not installed: `make services` as root installs it (devstack)")
    return binary
