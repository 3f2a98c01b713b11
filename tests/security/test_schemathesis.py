"""Issue 15, hole 7: schemathesis against the published contract of a real running server.

Schemathesis reads `/v1/openapi.json` from a test server (real PostgreSQL, Redis and Ray),
generates valid and invalid requests for every operation (NUL characters in strings included)
with an admin's token, so requests reach the handlers, and requires zero server errors (5xx) and
zero responses that break their documented schema. The run is bounded: few examples per
operation and a time budget, so it stays within about a minute on a busy 2-core machine.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from server.seed import seed_demo

Client = TestClient[web.Request, web.Application]
MAX_EXAMPLES = int(os.environ.get("CADENCE_SCHEMATHESIS_EXAMPLES", "3"))
# Fuzzing repeats until the budget is spent: the run takes about this long plus start-up.
BUDGET_S = int(os.environ.get("CADENCE_SCHEMATHESIS_BUDGET_S", "45"))
ST = Path(sys.executable).with_name("st")


async def _demo(client: Client) -> tuple[str, dict[str, Any]]:  # noqa: F811 - the fixture's value
    """An admin's token of a fresh demo clinic, and the clinic's ids."""
    demo = await seed_demo(client.app[DB_KEY])
    admin = next(u for u in demo["users"] if u["role"] == "admin")
    response = await client.post(
        "/v1/auth/login", json={"email": admin["email"], "password": admin["password"]}
    )
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token, demo


def _config(demo: dict[str, Any]) -> str:
    """Real ids of the demo clinic for the path parameters, so requests reach the handlers'
    work instead of stopping at 404 (the other parameters stay generated)."""
    receptionist = next(u for u in demo["users"] if u["role"] == "receptionist")
    public = next(c for c in demo["calendars"] if c["public"])
    ids = {
        "/v1/patients/": demo["patients"][-1]["id"],
        "/v1/calendars/": demo["calendars"][0]["id"],
        "/v1/public/calendars/": public["id"],
        "/v1/specialists/": demo["specialists"][0]["id"],
        "/v1/users/": receptionist["user_id"],
        "/v1/organizations/": demo["organization_id"],
        "/v1/exercises/": next(iter(demo["exercises"].values())),
        "/v1/plan-assignments/": demo["plan_assignments"][0]["id"],
    }
    return "".join(
        f"[[operations]]\ninclude-path-regex = '^{re.escape(prefix)}\\{{id\\}}'\n"
        f'parameters = {{ "path.id" = "{value}" }}\n\n'
        for prefix, value in ids.items()
    )


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    client: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    token, demo = await _demo(client)
    base = str(client.make_url("/")).rstrip("/")
    report = tmp_path / "st.ndjson"
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(demo))
    proc = await asyncio.create_subprocess_exec(
        str(ST), "--config-file", str(config), "run", f"{base}/v1/openapi.json",
        # Signing out would end the token the rest of the run uses.
        "--exclude-path", "/v1/auth/logout",
        "--url", base,
        "--checks", "not_a_server_error,response_schema_conformance",
        "--max-examples", str(MAX_EXAMPLES),
        "--max-time", str(BUDGET_S),
        "--phases", "examples,coverage,fuzzing",
        # One worker: with two threads, hypothesis's ast.parse can raise a spurious SystemError
        # ("AST constructor recursion depth mismatch", CPython gh-106905; Python 3.11.7 here).
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--seed", os.environ.get("CADENCE_SCHEMATHESIS_SEED", "15"),
        "--no-color",
        "--report", "ndjson", "--report-ndjson-path", str(report),
        "-H", f"Authorization: Bearer {token}",
        cwd=tmp_path,  # its caches stay out of the checkout
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), BUDGET_S * 4 + 120)
    text = out.decode(errors="replace")
    print(text[-6000:])  # shown with -s, or by pytest when the test fails
    # On failure the summary names each operation, check and a curl command reproducing it.
    assert proc.returncode == 0, text[-20000:]
    assert "Tested: " in text and " passed" in text
