"""A real S3-compatible server for the tests: moto's server mode, in a thread of the test
process, on a free port. Tests make their own buckets (random names), so they share one server
without seeing each other's objects."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import aioboto3
from moto.server import ThreadedMotoServer

from server.settings import Settings
from storage.blobs import S3Config

# moto accepts any credentials; the region must be one it knows.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto server running until the block ends."""
    # werkzeug logs every request of the server at INFO: noise in a failing test's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def config(endpoint: str, bucket: str) -> S3Config:
    return S3Config(
        bucket=bucket,
        endpoint_url=endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        # A store pointed at nothing gives up quickly.
        connect_timeout_s=2.0,
        read_timeout_s=10.0,
    )


def with_s3(settings: Settings, endpoint: str, bucket: str) -> Settings:
    """The settings of a server keeping its blobs in this bucket (the CADENCE_S3_* ones)."""
    return dataclasses.replace(
        settings,
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
    )


async def create_bucket(endpoint: str) -> str:
    """A new, empty bucket on the server; its name."""
    name = f"cadence-test-{uuid.uuid4().hex[:16]}"
    session = aioboto3.Session()
    async with session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    ) as client:
        await client.create_bucket(Bucket=name)
    return name
