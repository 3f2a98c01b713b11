"""The demo clinic's rendered document: after `cadence seed demo` makes a new demo, the session
report of its first patient's latest telerehab session (server/telerehab/seed.py) is rendered and
stored, so the clinic opens with a document already there (`GET
/v1/session-completions/{id}/document` answers from the stored PDF, without rendering).

Runs after the seed's transaction committed, like a request would: the subject read in the
clinic's tenant transaction, the PDF rendered in a worker process and put in the same object
storage the server uses (server/resources.py `open_blob_store`), its row recorded in a second
tenant transaction (server/records/rendering.py, the flow of the REST path).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from actors.documents import Renderer, RendererOptions
from server.records.rendering import prepare, record_rendered, render_and_store
from server.resources import open_blob_store
from server.settings import Settings
from storage import documents as store
from storage.audit import SYSTEM
from storage.db import Database


async def render_demo_report(
    settings: Settings, db: Database, demo: Mapping[str, Any]
) -> dict[str, str] | None:
    """{"completion_id", "sha256"} of the demo's stored session report (rendered now unless
    already stored); None for a demo without sessions done. Raises what the REST path answers
    503 for: RendererBusy, storage.errors.Unavailable (and BlobStoreConfigError)."""
    completions = demo.get("session_completions") or []
    if demo.get("organization_id") is None or not completions:
        return None
    org_id = uuid.UUID(str(demo["organization_id"]))
    completion_id = uuid.UUID(str(completions[-1]["id"]))  # the latest: the longest history
    async with open_blob_store(settings) as blobs:
        async with db.tenant(org_id) as conn:
            subject = await store.session_report(conn, settings.data_keys, completion_id)
            prepared = await prepare(org_id, subject)
        stored = prepared.stored
        if stored is None:
            # One worker, started cold: one document, in a process that exits right after.
            renderer = Renderer(RendererOptions(workers=1, max_in_flight=1))
            await renderer.start(warm=False)
            try:
                blob = await render_and_store(renderer, blobs, prepared.document)
            finally:
                await renderer.close()
            async with db.tenant(org_id) as conn:
                stored = await record_rendered(
                    conn, org_id=org_id, actor=SYSTEM, prepared=prepared, blob=blob
                )
    return {"completion_id": str(completion_id), "sha256": stored.sha256}
