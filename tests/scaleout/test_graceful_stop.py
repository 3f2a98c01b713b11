"""SIGTERM to a real `cadence serve` (its own local Ray, as `make run` starts it): an open
WebSocket is closed with 1001 (going away), the process exits 0, and nothing in its output looks
like a crash: Ray's failure-signal handler neither dumps a stack nor aborts a slow shutdown, and
Ray's own warnings are JSON lines like ours."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from pathlib import Path

import websockets

from bench.scaleout import Replica, replica_env
from server import tokens
from storage.types import Role
from tests.scaleout.clinic import SECRET, new_org
from tests.support.services import app_password, base_urls, redis_prefix


async def test_sigterm_closes_websockets_with_1001_and_exits_cleanly(
    scaleout_database: str, ray_tmp: Path, tmp_path: Path
) -> None:
    _, redis_url = base_urls()
    with redis_prefix() as prefix:
        env = replica_env(
            dsn=scaleout_database,
            redis_url=redis_url,
            prefix=prefix,
            secret=SECRET,
            files=tmp_path,
            ray_tmp=ray_tmp,
            ray_address=None,
        )
        env["CADENCE_DB_APP_PASSWORD"] = app_password()
        log = tmp_path / "serve.log"
        server = Replica("serve", env, log)
        try:
            await server.ready()
            org = await new_org(scaleout_database)
            token = tokens.issue(SECRET, role=Role.ADMIN, org_id=org, user_id=uuid.uuid4())
            async with websockets.connect(
                f"ws://{server.address}/v1/ws",
                additional_headers={"Authorization": f"Bearer {token}"},
            ) as ws:
                await ws.send(f'{{"op":"subscribe","id":1,"channel":"org:{org}"}}')
                assert '"id":1' in str(await asyncio.wait_for(ws.recv(), 30))
                server.proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    await ws.wait_closed()
                assert ws.close_code == 1001
            code = await asyncio.to_thread(server.proc.wait, 60)
        finally:
            server.stop()
        output = log.read_text(errors="replace")
        assert code == 0, output[-3000:]
        assert "SIGTERM received" not in output, output[-3000:]
        # Ray's Python warnings come out as our JSON lines, not as Ray's plain ones.
        assert not re.search(r"^\d{4}-\d\d-\d\d [\d:,]+\s+WARNING", output, re.M), output[-3000:]
