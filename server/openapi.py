"""The OpenAPI 3.1 document, generated from the registered endpoints (so it cannot drift), the
interactive API page (Swagger UI, served from the files of an installed package: nothing from a
CDN), and the protocol page (server/static/protocol.md rendered to HTML, and raw)."""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from aiohttp import web
from markdown_it import MarkdownIt

from realtime import frame_schemas
from server.errors import not_found
from server.http import json_response
from server.routing import ENDPOINTS_KEY, PUBLIC, Endpoint, shape

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
VERSION = "1.0.0"
# Statuses whose answer has no body: the WebSocket upgrade and No Content.
BODYLESS = frozenset({101, 204})

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
                "request_id": {"type": ["string", "null"]},
            },
        }
    },
}
_REQUEST_ID = {
    "description": "the request's id (the caller's when it sent a well-formed one); logged",
    "schema": {"type": "string"},
}
_RETRY_AFTER = {
    "description": "whole seconds to wait before retrying",
    "schema": {"type": "integer", "minimum": 0},
}
_ENVELOPE = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "a retry with the same key answers as the first call did",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
# Error statuses with a named response of their own (the others are the plain envelope).
_ERROR_REFS = {429: "RateLimited", 503: "Unavailable"}


def error_codes(ep: Endpoint) -> set[int]:
    """Every error status the edge can answer for `ep`: the ones it declares and those the
    middleware and the web kit add (bad input, auth, unknown ids, body limits, rate limits)."""
    codes = set(ep.errors) | {400}
    if not ep.access.public:
        codes |= {401, 403}
    if _PARAM.search(ep.path):
        codes.add(404)
    if ep.request_schema is not None:
        codes |= {413, 422}
    if ep.query:
        codes.add(422)
    if ep.access.rate is not None:
        codes.add(429)
        if ep.access.rate.fail_closed:
            codes.add(503)
    return codes


def _success(ep: Endpoint) -> dict[str, Any]:
    if ep.status == 101:
        return {
            "description": "switching protocols: the WebSocket; every frame is described by "
            "/v1/protocol/frames.schema.json"
        }
    answer: dict[str, Any] = {"description": "success", "headers": {"X-Request-ID": _REQUEST_ID}}
    if ep.status not in BODYLESS and not ep.empty and ep.response_schema is not None:
        answer["content"] = {ep.media_type: {"schema": ep.response_schema}}
    return answer


def _operation(ep: Endpoint) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(ep.path)
    ]
    params += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in ep.query.items()
    ]
    if ep.idempotent:
        params.append(_IDEMPOTENCY)
    responses: dict[str, Any] = {str(ep.status): _success(ep)}
    if ep.existing_status is not None:
        responses[str(ep.existing_status)] = _success(ep) | {
            "description": "success: the result already existed and is answered unchanged"
        }
    for code in sorted(error_codes(ep)):
        name = _ERROR_REFS.get(code, "Error")
        responses[str(code)] = {"$ref": f"#/components/responses/{name}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    op: dict[str, Any] = {
        "summary": ep.summary,
        "tags": [ep.tag],
        "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower())}".rstrip(
            "_"
        ),
        "responses": responses,
    }
    if params:
        op["parameters"] = params
    if ep.request_schema is not None:
        op["requestBody"] = {
            "required": not ep.body_optional,
            "content": {"application/json": {"schema": ep.request_schema}},
        }
    if ep.access is PUBLIC or ep.access.public:
        op["security"] = []
    elif ep.access.roles:
        op["x-roles"] = sorted(r.value for r in ep.access.roles)
    return op


def document(endpoints: list[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in sorted(endpoints, key=lambda e: (e.path, e.method)):
        path = _PARAM.sub(r"{\1}", ep.path)
        paths.setdefault(path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cadence API",
            "version": VERSION,
            "description": "REST and WebSocket contract of Cadence (see /docs/protocol; the "
            "WebSocket frames: /v1/protocol/frames.schema.json).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": {"Error": ERROR_SCHEMA},
            "responses": {
                "Error": {
                    "description": "error envelope",
                    "headers": {"X-Request-ID": _REQUEST_ID},
                    "content": _ENVELOPE,
                },
                "RateLimited": {
                    "description": "rate_limited: too many calls; retry after Retry-After",
                    "headers": {"Retry-After": _RETRY_AFTER, "X-Request-ID": _REQUEST_ID},
                    "content": _ENVELOPE,
                },
                "Unavailable": {
                    "description": "a dependency is busy or restarting; retry after Retry-After",
                    "headers": {"Retry-After": _RETRY_AFTER, "X-Request-ID": _REQUEST_ID},
                    "content": _ENVELOPE,
                },
            },
        },
        "security": [{"bearer": []}],
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document(request.app[ENDPOINTS_KEY]))


def _static(name: str) -> bytes:
    return resources.files("server").joinpath("static", name).read_bytes()


# --- the interactive page: Swagger UI from the files of the fastapi-offline wheel -------------
# Read as files of the installed distribution: the package (and FastAPI) is never imported.
_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "application/javascript",
    "docs.js": "application/javascript",
}
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'"
)


@cache
def _asset(name: str) -> bytes:
    if name == "docs.js":
        return _static("docs.js")
    located = metadata.distribution("fastapi-offline").locate_file(f"fastapi_offline/static/{name}")
    return Path(str(located)).read_bytes()


async def docs_page(request: web.Request) -> web.Response:
    response = web.Response(body=_static("docs.html"), content_type="text/html")
    response.headers["Content-Security-Policy"] = _DOCS_CSP
    return response


async def docs_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _ASSETS:
        raise not_found("asset")
    response = web.Response(body=_asset(name), content_type=_ASSETS[name])
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# --- the protocol page ----------------------------------------------------------------------
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_PROTOCOL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cadence protocol</title>
<style>body{{font:15px/1.55 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}}
pre,code{{background:#f6f6f6}}pre{{padding:.5rem;overflow:auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:.25rem .5rem}}</style></head><body>
<p><a href="/docs">API reference</a> · <a href="/docs/protocol.md">Markdown</a> ·
<a href="/v1/protocol/frames.schema.json">WebSocket frame schemas</a></p>
{body}
</body></html>
"""


@cache
def _protocol_html() -> bytes:
    # Raw HTML in the Markdown is escaped ("html": False): the page runs no script of its text.
    body = _MARKDOWN.render(_static("protocol.md").decode())
    return _PROTOCOL_PAGE.format(body=body).encode()


async def protocol_page(request: web.Request) -> web.Response:
    response = web.Response(body=_protocol_html(), content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response


async def protocol_markdown(request: web.Request) -> web.Response:
    return web.Response(body=_static("protocol.md"), content_type="text/markdown", charset="utf-8")


async def frames_schema(request: web.Request) -> web.Response:
    return json_response(frame_schemas.document())


_TEXT = {"type": "string"}
_DOCS = "docs"
ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/openapi.json",
        openapi_json,
        PUBLIC,
        "This OpenAPI 3.1 document",
        _DOCS,
        response_schema=shape({"openapi": _TEXT, "info": {"type": "object"}, "paths": {}}),
    ),
    Endpoint(
        "GET",
        "/v1/protocol/frames.schema.json",
        frames_schema,
        PUBLIC,
        "JSON Schema (2020-12) of every WebSocket frame: client ops and server frames",
        _DOCS,
        response_schema=shape({"$schema": _TEXT, "$defs": {"type": "object"}}),
    ),
    Endpoint(
        "GET",
        "/docs",
        docs_page,
        PUBLIC,
        "Interactive API reference (Swagger UI)",
        _DOCS,
        response_schema=_TEXT,
        media_type="text/html",
    ),
    Endpoint(
        "GET",
        "/docs/assets/{name}",
        docs_asset,
        PUBLIC,
        "Script and style of the API reference, served locally",
        _DOCS,
        response_schema=_TEXT,
        media_type="application/javascript",
    ),
    Endpoint(
        "GET",
        "/docs/protocol",
        protocol_page,
        PUBLIC,
        "The v1 client contract, as HTML",
        _DOCS,
        response_schema=_TEXT,
        media_type="text/html",
    ),
    Endpoint(
        "GET",
        "/docs/protocol.md",
        protocol_markdown,
        PUBLIC,
        "The v1 client contract, as Markdown",
        _DOCS,
        response_schema=_TEXT,
        media_type="text/markdown",
    ),
]
