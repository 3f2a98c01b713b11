"""The OpenAPI 3.1 document, generated from the registered endpoints (so it cannot drift), and the
human-readable API page served from files installed with the package."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from aiohttp import web

from server.http import json_response
from server.routing import ENDPOINTS_KEY, PUBLIC, Endpoint

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
VERSION = "1.0.0"

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
    success: dict[str, Any] = {"description": "success"}
    if ep.response_schema is not None:
        success["content"] = {"application/json": {"schema": ep.response_schema}}
    responses: dict[str, Any] = {str(ep.status): success}
    codes = set(ep.errors) | {400}
    if not ep.access.public:
        codes |= {401, 403}
    if ep.request_schema is not None:
        codes.add(422)
    for code in sorted(codes):
        responses[str(code)] = {"$ref": "#/components/responses/Error"}
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
            "required": True,
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
            "description": "REST and WebSocket contract of Cadence (see /docs/protocol).",
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
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
        "security": [{"bearer": []}],
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document(request.app[ENDPOINTS_KEY]))


def _static(name: str) -> bytes:
    return resources.files("server").joinpath("static", name).read_bytes()


async def docs_page(request: web.Request) -> web.Response:
    response = web.Response(body=_static("docs.html"), content_type="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response


async def protocol_page(request: web.Request) -> web.Response:
    return web.Response(body=_static("protocol.md"), content_type="text/markdown", charset="utf-8")


async def docs_script(request: web.Request) -> web.Response:
    return web.Response(body=_static("docs.js"), content_type="application/javascript")


ENDPOINTS = [
    Endpoint("GET", "/v1/openapi.json", openapi_json, PUBLIC, "This OpenAPI 3.1 document", "docs"),
    Endpoint("GET", "/docs", docs_page, PUBLIC, "Human-readable API reference", "docs"),
    Endpoint("GET", "/docs/docs.js", docs_script, PUBLIC, "Script of the API page", "docs"),
    Endpoint("GET", "/docs/protocol", protocol_page, PUBLIC, "The v1 client contract", "docs"),
]
