"""Issue 21, item 4: every operation of /v1/openapi.json is a contract a client can be generated
from: a success response with its schema, a request body schema where the handler reads one, the
Idempotency-Key header where the handler honours it, Retry-After on 429 and 503, and the error
envelope on every error status. A route that lacks any of these fails here, by name."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from realtime import frame_schemas
from server.app import create_app
from server.openapi import BODYLESS, document
from server.routing import ENDPOINTS_KEY, Endpoint
from server.settings import Settings

_ERROR = "#/components/responses/Error"


@pytest.fixture(scope="module")
def endpoints() -> list[Endpoint]:
    # The app is built, not started: no database, Redis or Ray is reached.
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://contract@127.0.0.1:1/contract",
            "REDIS_URL": "redis://127.0.0.1:1",
            "CADENCE_ENV": "test",
            "CADENCE_SECRET": "contract-" + "x" * 40,
            "CADENCE_DB_APP_PASSWORD": "contract",
        }
    )
    registered: list[Endpoint] = create_app(settings)[ENDPOINTS_KEY]
    return list(registered)


@pytest.fixture(scope="module")
def spec(endpoints: list[Endpoint]) -> dict[str, Any]:
    return document(endpoints)


def _source(ep: Endpoint) -> str:
    try:
        return inspect.getsource(ep.handler)
    except (OSError, TypeError):
        return ""


def _problems(ep: Endpoint, op: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    found: list[str] = []
    success = op["responses"].get(str(ep.status))
    if success is None:
        return [f"no {ep.status} response"]
    bodyless = ep.status in BODYLESS or ep.empty
    content = success.get("content", {})
    if not bodyless:
        schemas = [media.get("schema") for media in content.values()]
        if not schemas or not all(schemas):
            found.append(f"{ep.status} response has no schema")
    elif content:
        found.append(f"{ep.status} response has a body although the status has none")
    if ep.method in ("POST", "PUT", "PATCH") and not ep.raw_body and "read_json(" in _source(ep):
        if "requestBody" not in op:
            found.append("the handler reads a JSON body, but no request schema is declared")
    if "idempotency_key(" in _source(ep):
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
        if "Idempotency-Key" not in names:
            found.append("the handler honours Idempotency-Key, but the header is not declared")
    errors = {code for code in op["responses"] if code[0] in "45"}
    if "400" not in errors or "default" not in op["responses"]:
        found.append("missing the 400 / default error envelope")
    if not ep.access.public and not {"401", "403"} <= errors:
        found.append("signed-in operation without 401 and 403")
    if ep.access.rate is not None and "429" not in errors:
        found.append("rate-limited operation without 429")
    for code in sorted(errors):
        ref = op["responses"][code].get("$ref", "")
        response = spec["components"]["responses"].get(ref.rsplit("/", 1)[-1], {})
        if "error" not in response.get("content", {}).get("application/json", {}).get(
            "schema", {}
        ).get("$ref", "") and not ref.endswith(("/Error", "/RateLimited", "/Unavailable")):
            found.append(f"{code} is not the error envelope")
        if code in ("429", "503") and "Retry-After" not in response.get("headers", {}):
            found.append(f"{code} without a Retry-After header")
    return found


def test_every_operation_has_schemas_headers_and_errors(
    endpoints: list[Endpoint], spec: dict[str, Any]
) -> None:
    offending: list[str] = []
    for ep in endpoints:
        path = ep.path.replace(":", "")
        op = spec["paths"][_templated(ep.path)][ep.method.lower()]
        for problem in _problems(ep, op, spec):
            offending.append(f"  {ep.method} {path} ({ep.handler.__module__}): {problem}")
    assert not offending, (
        f"{len(offending)} contract gaps in /v1/openapi.json; declare them on the Endpoint "
        "(response_schema, request_schema, idempotent=, media_type=, empty=):\n"
        + "\n".join(sorted(offending))
    )


def _templated(path: str) -> str:
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", path)


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate(spec)


def test_every_schema_in_the_document_is_a_valid_json_schema(spec: dict[str, Any]) -> None:
    broken = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            bodies = [op.get("requestBody", {})] + list(op["responses"].values())
            for body in bodies:
                for media in body.get("content", {}).values():
                    try:
                        Draft202012Validator.check_schema(media["schema"])
                    except Exception as exc:  # noqa: BLE001 - reported with its route
                        broken.append(f"{method.upper()} {path}: {exc}")
    assert not broken, "\n".join(broken)


def test_error_statuses_that_ask_for_a_retry_say_when(spec: dict[str, Any]) -> None:
    for name in ("RateLimited", "Unavailable"):
        assert "Retry-After" in spec["components"]["responses"][name]["headers"]


def test_frame_schemas_are_valid_and_cover_every_registered_op() -> None:
    published = frame_schemas.document()
    Draft202012Validator.check_schema(published)
    for schema in published["$defs"].values():
        Draft202012Validator.check_schema(schema)
    ops = {"auth", "subscribe", "unsubscribe", "presence", "ping", "hold", "release", "pose",
           "pose.landmarks", "pose.frame", "telemetry"}  # fmt: skip
    assert ops <= set(frame_schemas.CLIENT_OPS)
    assert {"ok", "error", "event", "ephemeral", "recovery"} == set(frame_schemas.SERVER_FRAMES)


def test_frame_violations_name_each_field() -> None:
    assert frame_schemas.violations({"op": "ping", "id": 1}) is None
    assert frame_schemas.violations({"op": "no-such-op"}) is None
    # Each op's fault keeps the code the op answered before the schemas existed.
    broken = frame_schemas.violations({"op": "release", "id": 2, "hold_id": 5})
    assert broken is not None and broken[0] == "validation_failed" and set(broken[1]) == {"hold_id"}
    missing = frame_schemas.violations({"op": "subscribe"})
    assert missing == ("bad_request", {"channel": "is required"})
    # The pose ops check their own frames (bad_shape, bad_visibility, ...).
    assert frame_schemas.violations({"op": "pose.landmarks", "t": ["soon"]}) is None
