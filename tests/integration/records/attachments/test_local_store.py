"""The embedded store: content-addressed files, and the server's download route for its signed,
expiring links (GET /v1/blobs/{token}): 200 with the bytes, name and type; 410 once expired;
404 for a token changed in any way or signed with another key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import BLOBS_KEY, SETTINGS_KEY
from storage.blobs import LinkClaims, LinkSigner, LocalBlobStore, key_of
from storage.errors import NotFound
from tests.integration.records.attachments.conftest import pdf, png

Client = TestClient[web.Request, web.Application]


def _store(client: Client) -> LocalBlobStore:
    store = client.app[BLOBS_KEY]
    assert isinstance(store, LocalBlobStore)
    return store


def _signer(client: Client) -> LinkSigner:
    return LinkSigner.from_secret(client.app[SETTINGS_KEY].secret)


async def _status(client: Client, url: str) -> int:
    async with client.get(url) as answer:
        return answer.status


async def test_the_same_bytes_are_one_file_named_by_their_hash(client: Client) -> None:
    store = _store(client)
    data = pdf()
    first = await store.put(data, "application/pdf")
    again = await store.put(data, "application/pdf")
    assert first == again and first.key == key_of(data)[0]
    digest = first.sha256
    folder = Path(store.directory) / "sha256" / digest[:2]
    names = [p.name for p in folder.iterdir()]  # other blobs may share the two-letter folder
    assert names.count(digest) == 1
    assert not [n for n in names if n.startswith(".partial-")]  # no temporary file left behind
    assert await store.get(first.key) == data
    with pytest.raises(NotFound):
        await store.get(key_of(b"never stored")[0])
    with pytest.raises(NotFound):
        await store.get("sha256/../../../etc/passwd")


async def test_a_link_downloads_the_bytes_with_their_name_and_type(client: Client) -> None:
    store = _store(client)
    data = png()
    blob = await store.put(data, "image/png")
    link = await store.link(blob.key, filename="Pop Ana – genunchi.png", content_type="image/png")
    assert link.url.startswith("/v1/blobs/")
    assert link.expires_at > datetime.now(UTC)
    async with client.get(link.url) as answer:
        assert answer.status == 200
        assert await answer.read() == data
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.headers["Content-Disposition"] == (
            'attachment; filename="Pop Ana _ genunchi.png"; '
            "filename*=UTF-8''Pop%20Ana%20%E2%80%93%20genunchi.png"
        )
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


async def test_an_expired_link_is_gone(client: Client) -> None:
    store = _store(client)
    blob = await store.put(pdf(), "application/pdf")
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    token = _signer(client).sign(LinkClaims(blob.key, past, "a.pdf", "application/pdf"))
    async with client.get(f"/v1/blobs/{token}") as answer:
        assert answer.status == 410
        assert (await answer.json())["error"]["code"] == "gone"


async def test_a_changed_or_foreign_token_is_not_found(client: Client) -> None:
    store = _store(client)
    blob = await store.put(pdf(), "application/pdf")
    other = await store.put(pdf(), "application/pdf")
    link = await store.link(blob.key, filename="a.pdf", content_type="application/pdf")
    token = link.url.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    def forged(changed: list[object]) -> str:
        raw = base64.urlsafe_b64encode(orjson.dumps(changed)).rstrip(b"=").decode()
        return f"/v1/blobs/{raw}.{mac}"

    later = claims[1] + 3600
    for url in (
        forged([other.key, *claims[1:]]),  # another blob
        forged([claims[0], later, *claims[2:]]),  # a longer life
        forged([*claims[:2], "b.pdf", claims[3]]),  # another name
        forged([*claims[:3], "text/html"]),  # another type
        f"/v1/blobs/{payload}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}",  # another signature
        f"/v1/blobs/{payload}",  # none
        "/v1/blobs/not-a-token",
    ):
        assert await _status(client, url) == 404, url
    # Signed with another server's key.
    foreign = LinkSigner.from_secret("another-secret-" + "y" * 40).sign(
        LinkClaims(blob.key, link.expires_at, "a.pdf", "application/pdf")
    )
    assert await _status(client, f"/v1/blobs/{foreign}") == 404
    # The genuine one still works.
    assert await _status(client, link.url) == 200
