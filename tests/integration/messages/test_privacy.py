"""A patient's messages in their export (opened) and in their erasure (bodies and subjects
gone); needs `messages.body` and `message_threads.subject` declared in storage/sealed.py SEALED
and storage/privacy.py SCRUB."""

from __future__ import annotations

import asyncpg

from storage.types import Role
from tests.integration.messages.conftest import Clinic


async def test_messages_are_exported_opened_and_erased(clinic: Clinic, database_url: str) -> None:
    admin = clinic.token(Role.ADMIN)
    status, created = await clinic.call(
        "POST",
        f"/v1/patients/{clinic.patient}/threads",
        admin,
        {"subject": "Knee", "body": "Ice it twice a day"},
    )
    assert status == 201, created
    status, export = await clinic.call("GET", f"/v1/patients/{clinic.patient}/export", admin)
    assert status == 200, export
    assert [m["body"] for m in export["tables"]["messages"]] == ["Ice it twice a day"]
    assert [t["subject"] for t in export["tables"]["message_threads"]] == ["Knee"]

    status, erased = await clinic.call("POST", f"/v1/patients/{clinic.patient}/erase", admin)
    assert status == 200, erased
    conn = await asyncpg.connect(database_url)
    try:
        bodies = await conn.fetch(
            "SELECT body FROM messages WHERE organization_id = $1", clinic.org
        )
        subjects = await conn.fetch(
            "SELECT subject FROM message_threads WHERE organization_id = $1", clinic.org
        )
    finally:
        await conn.close()
    assert [r["body"] for r in bodies] == [None]
    assert [r["subject"] for r in subjects] == [None]
