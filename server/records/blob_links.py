"""The download route of the embedded blob store's signed links (storage.blobs.LocalBlobStore):
what a presigned URL is to S3. Public: the token is the credential, signed over the key, the
expiry, the file name and the content type. A token this server did not sign answers 404 (as an
unknown one would), an expired one 410. With S3 configured, links point at S3 and this route
answers 404 to everything."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from server.errors import ApiError, not_found
from server.resources import BLOB_LINK_BASE, BLOBS_KEY
from server.routing import PUBLIC, Endpoint
from storage.blobs import BadLink, ExpiredLink, LocalBlobStore, content_disposition
from storage.errors import NotFound


async def download(request: web.Request) -> web.StreamResponse:
    store = request.app[BLOBS_KEY]
    if not isinstance(store, LocalBlobStore):
        raise not_found("link")
    try:
        path, claims = store.resolve(request.match_info["token"], datetime.now(UTC))
    except (BadLink, NotFound):
        raise not_found("link") from None
    except ExpiredLink:
        raise ApiError(410, "gone", "the link has expired") from None
    headers = {"Content-Type": claims.content_type}
    if claims.filename:
        headers["Content-Disposition"] = content_disposition(claims.filename)
    # Streamed from the file (sendfile where the platform has it), never read whole.
    return web.FileResponse(path, headers=headers)


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        BLOB_LINK_BASE + "/{token}",
        download,
        PUBLIC,
        "Download the bytes of a signed, short-lived link (the embedded blob store)",
        "attachments",
        response_schema={"type": "string", "format": "binary"},
        media_type="application/octet-stream",
        errors=(404, 410),
    ),
]
