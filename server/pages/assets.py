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

__all__ = [
    "MEDIAPIPE_POSE_FILES",
    "Asset",
    "client_asset",
    "mediapipe_asset",
    "page_asset",
    "serve",
]

_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".ts": "text/plain",  # cadence.d.ts: read, not run
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",  # the type WebAssembly.instantiateStreaming insists on
    ".data": "application/octet-stream",
    ".tflite": "application/octet-stream",
    ".binarypb": "application/octet-stream",
}
# Scripts and styles may be cached briefly and then revalidated (a deploy shows within minutes);
# the HTML is always revalidated so it never points at files of an older release.
_CACHING = {
    ".html": "no-cache",
    ".js": "public, max-age=300, must-revalidate",
    ".css": "public, max-age=300, must-revalidate",
    ".ts": "public, max-age=300, must-revalidate",
    ".svg": "public, max-age=86400",
    # MediaPipe's files change only with the locked package version: a day, then revalidated.
    ".wasm": "public, max-age=86400",
    ".data": "public, max-age=86400",
    ".tflite": "public, max-age=86400",
    ".binarypb": "public, max-age=86400",
}
_MEDIAPIPE_JS = "public, max-age=86400"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(html|js|css|svg)$")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


# What the telerehab page's MediaPipe Pose (the npm package @mediapipe/pose, installed by `make`
# into server/pages/node_modules from the lock file) asks for: its loader, the WebAssembly
# (SIMD or not, as the browser supports), the packed assets, the graph and the models (lite and
# full; the heavy one, 27 MB, is not used and not served).
MEDIAPIPE_POSE_FILES = frozenset({
    "pose.js", "pose_solution_packed_assets_loader.js", "pose_solution_packed_assets.data",
    "pose_solution_simd_wasm_bin.js", "pose_solution_simd_wasm_bin.wasm",
    "pose_solution_wasm_bin.js", "pose_solution_wasm_bin.wasm", "pose_web.binarypb",
    "pose_landmark_lite.tflite", "pose_landmark_full.tflite",
})  # fmt: skip


def _asset(package: str, *parts: str, cache_control: str | None = None) -> Asset:
    body = resources.files(package).joinpath(*parts).read_bytes()
    suffix = "." + parts[-1].rsplit(".", 1)[-1]
    return Asset(
        body=body,
        content_type=_TYPES[suffix],
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        cache_control=cache_control or _CACHING[suffix],
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


@cache
def mediapipe_asset(name: str) -> Asset:
    """A file of @mediapipe/pose from server/pages/node_modules (read once: megabytes, so the
    route loads it off the event loop). Unknown names, or the package not installed, are 404."""
    if name not in MEDIAPIPE_POSE_FILES:
        raise not_found("MediaPipe file")
    try:
        return _asset(
            "server.pages", "node_modules", "@mediapipe", "pose", name,
            cache_control=_MEDIAPIPE_JS if name.endswith(".js") else None,
        )  # fmt: skip
    except (FileNotFoundError, IsADirectoryError):
        raise not_found("MediaPipe file") from None  # `make` installs the npm packages


def serve(request: web.Request, asset: Asset) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": asset.cache_control}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    text = asset.content_type.startswith("text/") or asset.content_type == "image/svg+xml"
    return web.Response(
        body=asset.body,
        content_type=asset.content_type,
        charset="utf-8" if text else None,
        headers=headers,
    )
