"""SIGTERM to a real `cadence serve` (its own local Ray, as `make run` starts it): an open
WebSocket is closed with 1001 (going away), the process exits 0, and nothing in its output looks
like a crash: Ray's failure-signal handler neither dumps a stack nor aborts a slow shutdown, and
Ray's own warnings are JSON lines like ours."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import uuid
from pathlib import Path

import websockets

from bench.scaleout import Replica
from server import tokens
from storage.types import Role
from tests.scaleout.clinic import SECRET, new_org
from tests.support.services import app_password, base_urls, redis_prefix


async def test_sigterm_closes_websockets_with_1001_and_exits_cleanly(
    scaleout_database: str, ray_tmp: Path, tmp_path: Path
) -> None:
    _, redis_url = base_urls()
    with redis_prefix() as prefix:
        env = {
            **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
            "DATABASE_URL": scaleout_database,
            "REDIS_URL": redis_url,
            "RAY_TMPDIR": str(ray_tmp),
            "CADENCE_ENV": "test",
            "CADENCE_REDIS_PREFIX": prefix,
            "CADENCE_SECRET": SECRET,
            "CADENCE_DB_APP_PASSWORD": app_password(),
            "CADENCE_CALENDAR_SHARDS": "1",
            "CADENCE_INGEST_ACTORS": "1",
            "CADENCE_POSE_WORKERS": "1",
            "CADENCE_BLOB_DIR": str(tmp_path / "blobs"),
            "CADENCE_MAIL_DIR": str(tmp_path / "mail"),
            "CADENCE_LOG_LEVEL": "WARNING",
        }
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
