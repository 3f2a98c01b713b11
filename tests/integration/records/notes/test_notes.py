"""Clinical notes: who reads which note (the visibility matrix), edits as versions with an
append-only history the application role cannot rewrite, bodies sealed at rest, bad input in
the error envelope, and the ids-only pushes on the staff channel."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, SETTINGS_KEY
from storage.db import with_credentials
from storage.notes import shared_notes_for_appointment
from tests.integration.records.notes.conftest import Clinic, assert_envelope, make_clinic

Client = TestClient[web.Request, web.Application]


async def _write(
    clinic: Clinic, who: str, body: str, visibility: str = "private", appointment: str = "p0"
) -> dict[str, object]:
    status, note = await clinic.call(
        "POST",
        f"/v1/appointments/{clinic.appointments[appointment]}/notes",
        who,
        {"body": body, "visibility": visibility},
    )
    assert status == 201, note
    assert isinstance(note, dict)
    return note


async def test_who_reads_which_note(clinic: Clinic, client: Client) -> None:
    private = await _write(clinic, "A", "Private: knee flexion 95 degrees")
    shared = await _write(clinic, "A", "Shared: progress to stairs", "care_team")
    assert private["author_name"] == "Dr A" and private["author_role"] == "specialist"
    assert private["appointment_id"] == str(clinic.appointments["p0"])
    assert private["patient_id"] == str(clinic.patients[0]) and private["version"] == 1
    other = await make_clinic(client)
    other.users["admin"] = uuid.uuid4()

    # (reader, sees the private note, sees the shared note); None: the role is refused (403).
    matrix: dict[str, tuple[bool, bool] | None] = {
        "A": (True, True),  # the author
        "B": (False, True),  # treats the patient (a grant): shared notes only
        "C": (False, False),  # treats no one: not even the patient
        "admin": (True, True),  # admins see all
        "receptionist": None,  # never a clinical note
        "patient0": None,  # the patient themself: not their clinician's notes
        "owner": None,
    }
    patient_notes = f"/v1/patients/{clinic.patients[0]}/notes"
    appointment_notes = f"/v1/appointments/{clinic.appointments['p0']}/notes"
    for who, sees in matrix.items():
        for note in (private, shared):
            for path in (f"/v1/notes/{note['id']}", f"/v1/notes/{note['id']}/history"):
                status, answer = await clinic.call("GET", path, who)
                if sees is None:
                    assert_envelope(status, answer, 403, "forbidden")
                    continue
                visible = sees[0] if note is private else sees[1]
                if visible:
                    assert status == 200, (who, path, answer)
                else:
                    assert_envelope(status, answer, 404, "not_found")
        for path in (patient_notes, appointment_notes):
            status, answer = await clinic.call("GET", path, who)
            if sees is None:
                assert status == 403, (who, path)
            elif who == "C":
                assert status == 404, (who, path, answer)  # the patient is not theirs
            else:
                assert status == 200, (who, path, answer)
                listed = [n["id"] for n in answer["data"]]
                expected = [n["id"] for n, ok in ((private, sees[0]), (shared, sees[1])) if ok]
                assert listed == expected, (who, path)

    # Another organization's admin: every id is unknown.
    for path in (f"/v1/notes/{private['id']}", f"/v1/notes/{shared['id']}", patient_notes,
                 appointment_notes):  # fmt: skip
        status, answer = await other.call("GET", path, "admin")
        assert_envelope(status, answer, 404, "not_found")
    # Without a token: 401.
    status, _ = await clinic.call("GET", f"/v1/notes/{shared['id']}", None)
    assert status == 401


async def test_a_note_on_the_patient_and_its_writers(clinic: Clinic) -> None:
    path = f"/v1/patients/{clinic.patients[0]}/notes"
    status, note = await clinic.call("POST", path, "admin", {"body": "Admin's note"})
    assert status == 201, note
    assert note["appointment_id"] is None and note["visibility"] == "private"
    assert note["author_role"] == "admin" and note["author_specialist_id"] is None
    on_visit = {"body": "On the visit", "appointment_id": str(clinic.appointments["p0"])}
    status, linked = await clinic.call("POST", path, "B", on_visit)
    assert status == 201 and linked["appointment_id"] == str(clinic.appointments["p0"]), linked
    # Only clinicians write notes; a specialist not treating the patient cannot find them.
    for who, expected in (("receptionist", 403), ("patient0", 403), ("C", 404)):
        status, answer = await clinic.call("POST", path, who, {"body": "x"})
        assert status == expected, (who, answer)
    # B (a grant) may not see the admin's private note, the admin sees B's.
    status, listed = await clinic.call("GET", path, "B")
    assert [n["id"] for n in listed["data"]] == [linked["id"]]
    status, listed = await clinic.call("GET", path, "admin")
    assert [n["id"] for n in listed["data"]] == [note["id"], linked["id"]]


async def test_edits_are_versions_by_the_author_only(clinic: Clinic, database_url: str) -> None:
    note = await _write(clinic, "A", "First words", "care_team")
    one = f"/v1/notes/{note['id']}"
    status, edited = await clinic.call("PATCH", one, "A", {"body": "Second words", "version": 1})
    assert status == 200 and edited["version"] == 2 and edited["body"] == "Second words", edited
    status, edited = await clinic.call("PATCH", one, "A", {"visibility": "private"})
    assert status == 200 and edited["version"] == 3 and edited["visibility"] == "private"
    # The same body and visibility again: nothing to write.
    status, same = await clinic.call("PATCH", one, "A", {"body": "Second words"})
    assert status == 200 and same["version"] == 3
    # An edit made on an older version loses to the newer one.
    status, answer = await clinic.call("PATCH", one, "A", {"body": "Late", "version": 2})
    error = assert_envelope(status, answer, 409, "stale_version")
    assert error["details"] == {"version": 3}
    # Nobody else edits: the admin sees the note but may not rewrite it (403); B no longer sees
    # it (it is private again: 404).
    status, answer = await clinic.call("PATCH", one, "admin", {"body": "Admin's words"})
    assert_envelope(status, answer, 403, "forbidden")
    status, answer = await clinic.call("PATCH", one, "B", {"body": "B's words"})
    assert_envelope(status, answer, 404, "not_found")

    status, history = await clinic.call("GET", f"{one}/history?limit=2", "A")
    assert status == 200, history
    assert [(r["version"], r["body"], r["visibility"]) for r in history["data"]] == [
        (1, "First words", "care_team"),
        (2, "Second words", "care_team"),
    ]
    assert history["data"][0]["edited_by"] == str(clinic.users["A"])
    status, rest = await clinic.call(
        "GET", f"{one}/history?limit=2&cursor={history['next_cursor']}", "A"
    )
    assert [(r["version"], r["visibility"]) for r in rest["data"]] == [(3, "private")]
    assert rest["next_cursor"] is None

    # Sealed at rest: no revision holds its words in clear.
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetch(
            "SELECT body FROM note_revisions WHERE note_id = $1", uuid.UUID(str(note["id"]))
        )
    finally:
        await conn.close()
    assert len(stored) == 3
    assert all("words" not in r["body"] for r in stored)


async def test_the_application_role_cannot_rewrite_history(clinic: Clinic, client: Client) -> None:
    note = await _write(clinic, "A", "What was said")
    await clinic.call("PATCH", f"/v1/notes/{note['id']}", "A", {"body": "What was said, edited"})
    settings = client.app[SETTINGS_KEY]
    conn = await asyncpg.connect(
        with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    )
    note_id = uuid.UUID(str(note["id"]))
    try:
        # Privileges are checked before any row is looked at: no tenant needed to be refused.
        refused = (
            "UPDATE note_revisions SET body = NULL WHERE note_id = $1",
            "UPDATE note_revisions SET version = 9 WHERE note_id = $1",
            "DELETE FROM note_revisions WHERE note_id = $1",
            "DELETE FROM notes WHERE id = $1",
            "UPDATE notes SET author_user_id = gen_random_uuid() WHERE id = $1",
            "UPDATE notes SET patient_id = patient_id WHERE id = $1",
        )
        for sql in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql, note_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("TRUNCATE note_revisions")
    finally:
        await conn.close()
    status, history = await clinic.call("GET", f"/v1/notes/{note['id']}/history", "A")
    assert [r["body"] for r in history["data"]] == ["What was said", "What was said, edited"]


async def test_bad_input_gets_the_error_envelope(clinic: Clinic) -> None:
    note = await _write(clinic, "A", "Kept")
    patient_notes = f"/v1/patients/{clinic.patients[0]}/notes"
    one = f"/v1/notes/{note['id']}"
    other_patients = str(clinic.appointments["p1"])
    cases: list[tuple[str, str, object, int, str]] = [
        ("POST", patient_notes, {"body": ""}, 422, "validation_failed"),
        ("POST", patient_notes, {"body": "   "}, 422, "validation_failed"),
        ("POST", patient_notes, {"body": "x" * 20_001}, 422, "validation_failed"),
        ("POST", patient_notes, {"body": "x", "visibility": "public"}, 422, "validation_failed"),
        ("POST", patient_notes, {"body": "x", "extra": 1}, 422, "validation_failed"),
        ("POST", patient_notes, {"body": "x", "appointment_id": "nope"}, 422, "validation_failed"),
        ("POST", patient_notes, {"body": "x", "appointment_id": other_patients}, 422,
         "validation_failed"),
        ("POST", patient_notes, {"body": "x", "appointment_id": str(uuid.uuid4())}, 422,
         "validation_failed"),
        ("POST", patient_notes, [], 422, "validation_failed"),
        ("PATCH", one, {}, 422, "validation_failed"),
        ("PATCH", one, {"version": 1}, 422, "validation_failed"),
        ("PATCH", one, {"body": " "}, 422, "validation_failed"),
        ("PATCH", one, {"body": "x", "version": 0}, 422, "validation_failed"),
        ("GET", f"{patient_notes}?limit=0", None, 422, "validation_failed"),
        ("GET", f"{patient_notes}?cursor=abc", None, 422, "validation_failed"),
        ("GET", f"{one}/history?cursor=WyJ4Il0", None, 422, "validation_failed"),  # ["x"]
        ("GET", "/v1/notes/not-a-uuid", None, 404, "not_found"),
        ("GET", f"/v1/notes/{uuid.uuid4()}", None, 404, "not_found"),
        ("POST", f"/v1/appointments/{uuid.uuid4()}/notes", {"body": "x"}, 404, "not_found"),
        ("POST", f"/v1/patients/{uuid.uuid4()}/notes", {"body": "x"}, 404, "not_found"),
    ]  # fmt: skip
    for method, path, body, expected, code in cases:
        status, answer = await clinic.call(method, path, "A", body)
        assert_envelope(status, answer, expected, code)
    status, answer = await clinic.call("POST", patient_notes, "A", raw=b"{not json")
    assert_envelope(status, answer, 400, "bad_request")
    # Nothing of the above was written.
    status, listed = await clinic.call("GET", patient_notes, "A")
    assert [n["id"] for n in listed["data"]] == [note["id"]]


async def test_pushes_on_the_staff_channel_carry_ids_only(clinic: Clinic) -> None:
    since = await clinic.position()
    note = await _write(clinic, "A", "Secret words", "care_team")
    await clinic.call("PATCH", f"/v1/notes/{note['id']}", "A", {"body": "More secret words"})
    await clinic.call("PATCH", f"/v1/notes/{note['id']}", "A", {"body": "More secret words"})
    frames = [f for f in await clinic.events(since) if f["type"].startswith("note.")]
    expected = {
        "id": note["id"],
        "patient_id": str(clinic.patients[0]),
        "appointment_id": str(clinic.appointments["p0"]),
    }
    # The second, unchanged edit publishes nothing.
    assert [(f["type"], f["data"]) for f in frames] == [
        ("note.created", expected),
        ("note.updated", expected),
    ]
    assert b"secret" not in orjson.dumps(frames).lower()


async def test_shared_notes_for_the_appointment_summary(clinic: Clinic, client: Client) -> None:
    first = await _write(clinic, "A", "Shared first", "care_team")
    await _write(clinic, "A", "Private, never in the summary")
    second = await _write(clinic, "B", "Shared second", "care_team")
    await _write(clinic, "A", "Another visit's", "care_team", appointment="p0_later")
    await clinic.call("PATCH", f"/v1/notes/{first['id']}", "A", {"body": "Shared first, edited"})
    async with client.app[DB_KEY].tenant(clinic.org):
        found = await shared_notes_for_appointment(
            client.app[SETTINGS_KEY].data_keys, clinic.appointments["p0"]
        )
    assert [(str(n["id"]), n["author_name"], n["body"]) for n in found] == [
        (first["id"], "Dr A", "Shared first, edited"),
        (second["id"], "Dr B", "Shared second"),
    ]
    assert all(set(n) == {"id", "author_name", "body", "created_at", "updated_at"} for n in found)
    assert found[0]["updated_at"] > found[0]["created_at"]
    # Row-level security: another organization's transaction sees none of them.
    other = await make_clinic(client)
    async with client.app[DB_KEY].tenant(other.org):
        assert (
            await shared_notes_for_appointment(
                client.app[SETTINGS_KEY].data_keys, clinic.appointments["p0"]
            )
            == []
        )


async def test_a_deleted_patients_notes_are_out_of_reach(clinic: Clinic, client: Client) -> None:
    """Even for their author: a specialist's relation to a patient outlives the patient's
    deletion (or erasure), their notes do not."""
    note = await _write(clinic, "A", "Before the deletion", "care_team")
    async with client.app[DB_KEY].platform() as conn:
        await conn.execute(
            "UPDATE patients SET deleted_at = now() WHERE id = $1", clinic.patients[0]
        )
    one = f"/v1/notes/{note['id']}"
    for who in ("A", "B", "admin"):
        for method, path, body in (
            ("GET", one, None),
            ("GET", f"{one}/history", None),
            ("PATCH", one, {"body": "After"}),
            ("GET", f"/v1/patients/{clinic.patients[0]}/notes", None),
            ("POST", f"/v1/patients/{clinic.patients[0]}/notes", {"body": "After"}),
            ("POST", f"/v1/appointments/{clinic.appointments['p0']}/notes", {"body": "After"}),
        ):
            status, answer = await clinic.call(method, path, who, body)
            assert_envelope(status, answer, 404, "not_found")
