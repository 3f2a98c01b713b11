"""A consumer worker for the crash tests: `python -m tests.support.consumer_proc NAME ORG KEY`
runs a Runner with a RecordingHandler over one organization's stream until killed (ORG `none`:
over no organization at all). Settings come from the environment, as for `cadence consume`."""

from __future__ import annotations

import asyncio
import sys
import uuid

from actors.consumers import Runner, RunnerOptions
from server.consumers import worker_context
from server.settings import Settings
from tests.support.consumers import RecordingHandler


async def main(name: str, org: uuid.UUID | None, key: str) -> None:
    async with worker_context(Settings.from_env(), pool_size=2) as ctx:
        handler = RecordingHandler(ctx.redis, key, delay_s=0.002)
        only = frozenset() if org is None else frozenset({org})
        options = RunnerOptions(
            batch=20, block_ms=200, retry_idle_s=1.0, claim_every_s=0.5, only=only
        )
        runner = Runner(ctx, [handler], [], consumer=name, options=options)
        runner.start()
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    org = None if sys.argv[2] == "none" else uuid.UUID(sys.argv[2])
    asyncio.run(main(sys.argv[1], org, sys.argv[3]))
