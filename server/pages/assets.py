"""The pages' files, served from the installed package: read once, with a strong ETag, so a
reload costs a 304 and nothing is fetched from anywhere but this server (no CDN)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from aiohttp import web

from server.errors import not_found

__all__ = ["Asset", "client_asset", "page_asset", "serve"]

_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".ts": "text/plain",  # cadence.d.ts: read, not run
    ".svg": "image/svg+xml",
}
# Scripts and styles may be cached briefly and then revalidated (a deploy shows within minutes);
# the HTML is always revalidated so it never points at files of an older release.
_CACHING = {
    ".html": "no-cache",
    ".js": "public, max-age=300, must-revalidate",
    ".css": "public, max-age=300, must-revalidate",
    ".ts": "public, max-age=300, must-revalidate",
    ".svg": "public, max-age=86400",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(html|js|css|svg)$")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


def _asset(package: str, *parts: str) -> Asset:
    body = resources.files(package).joinpath(*parts).read_bytes()
    suffix = "." + parts[-1].rsplit(".", 1)[-1]
    return Asset(
        body=body,
        content_type=_TYPES[suffix],
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        cache_control=_CACHING[suffix],
    )


@cache
def client_asset(name: str) -> Asset:
    """`cadence.js` or `cadence.d.ts`, kept beside the Python SDK in realtime/client/js/."""
    return _asset("realtime.client", "js", name)


@cache
def page_asset(name: str) -> Asset:
    """A file of server/pages/static/ (KeyError-free: unknown names are 404)."""
    if not _NAME.match(name):
        raise not_found("page asset")
    try:
        return _asset("server.pages", "static", name)
    except (FileNotFoundError, IsADirectoryError):
        raise not_found("page asset") from None


def serve(request: web.Request, asset: Asset) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": asset.cache_control}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
    )
