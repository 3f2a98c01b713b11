"""The note tables' reads and writes (see the package's docstring). Reads join a note's header
to its current revision (the body) and its author's name, so they are raw SQL run through
Piccolo's engine: the transaction (and tenant) of the block they are awaited in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from piccolo.querystring import QueryString

from storage.crypto import FieldRef, KeyRing
from storage.errors import Conflict, Invalid
from storage.notes._visibility import Reader, Visibility
from storage.orm import rows
from storage.tables._notes import NoteRevisions, Notes

MAX_BODY = 20_000
MAX_SHARED = 500  # notes of one appointment a summary shows, at most
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Author:
    """Who writes: the signed-in user, their role, and the specialist they are (if one)."""

    user_id: uuid.UUID
    role: str
    specialist_id: uuid.UUID | None


def _body(value: object) -> str:
    """Not blank and at most MAX_BODY characters (what the schema cannot say: whitespace)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid({"body": "must not be empty"})
    if len(value) > MAX_BODY:
        raise Invalid({"body": f"must be at most {MAX_BODY} characters"})
    return value


def _ref(org: uuid.UUID, revision_id: uuid.UUID) -> FieldRef:
    return FieldRef("note_revisions", "body", revision_id, org)


def _opened(ring: KeyRing, row: Row) -> Row:
    """A read row with its body opened (None once the patient was erased)."""
    sealed = row.pop("sealed_body")
    body = None
    if sealed is not None:
        body = ring.open(sealed, _ref(row["organization_id"], row["revision_id"]))
    return {**row, "body": body}


# The header, its current body and its author's display name: the specialist's name, else the
# user's display name, else the role.
_SELECT = """
SELECT n.id, n.organization_id, n.patient_id, n.appointment_id, n.author_user_id,
       n.author_role, n.author_specialist_id, n.visibility, n.version, n.created_at,
       n.updated_at, r.id AS revision_id, r.body AS sealed_body,
       coalesce(s.name, nullif(u.display_name, ''), n.author_role) AS author_name
  FROM notes n
  JOIN note_revisions r
    ON r.organization_id = n.organization_id AND r.note_id = n.id AND r.version = n.version
  LEFT JOIN specialists s
    ON s.organization_id = n.organization_id AND s.id = n.author_specialist_id
  LEFT JOIN users u ON u.id = n.author_user_id
"""


async def _select(where: QueryString, tail: str = "", *args: Any) -> list[Row]:
    return await rows(Notes.raw(f"{_SELECT} WHERE {{}} {tail}", where, *args))


async def _revise(
    ring: KeyRing,
    org: uuid.UUID,
    note_id: uuid.UUID,
    patient_id: uuid.UUID,
    version: int,
    body: str,
    visibility: Visibility,
    by: uuid.UUID,
) -> None:
    revision_id = uuid.uuid4()
    await NoteRevisions.insert(
        NoteRevisions(
            id=revision_id,
            organization_id=org,
            note_id=note_id,
            patient_id=patient_id,
            version=version,
            body=ring.seal(body, _ref(org, revision_id)),
            visibility=visibility.value,
            edited_by=by,
        )
    )


async def create_note(
    ring: KeyRing,
    org: uuid.UUID,
    *,
    patient_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    body: str,
    visibility: Visibility,
    by: Author,
) -> Row:
    """A new note (version 1, its first revision) by `by`, opened. The caller checked that the
    appointment, if any, is the patient's."""
    body = _body(body)
    note_id = uuid.uuid4()
    await Notes.insert(
        Notes(
            id=note_id,
            organization_id=org,
            patient_id=patient_id,
            appointment_id=appointment_id,
            author_user_id=by.user_id,
            author_role=by.role,
            author_specialist_id=by.specialist_id,
            visibility=visibility.value,
            version=1,
        )
    )
    await _revise(ring, org, note_id, patient_id, 1, body, visibility, by.user_id)
    found = await get_note(ring, note_id)
    assert found is not None  # written above, in this transaction
    return found


async def get_note(ring: KeyRing, note_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    """The note with its current body (opened) and author name, or None. `lock`: the header is
    locked for an edit (concurrent edits of one note queue, never interleave)."""
    found = await _select(QueryString("n.id = {}", note_id), "FOR UPDATE OF n" if lock else "")
    return _opened(ring, found[0]) if found else None


async def list_notes(
    ring: KeyRing,
    reader: Reader,
    *,
    patient_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """The patient's (or the appointment's) notes `reader` may read, oldest first, after
    `after` (created_at, id). The caller checked that the reader may see the patient."""
    if (patient_id is None) == (appointment_id is None):
        raise ValueError("list the notes of a patient or of an appointment")
    where = (
        QueryString("n.patient_id = {}", patient_id)
        if patient_id is not None
        else QueryString("n.appointment_id = {}", appointment_id)
    )
    keyset = QueryString("TRUE")
    if after is not None:
        keyset = QueryString("(n.created_at, n.id) > ({}, {})", after[0], after[1])
    found = await _select(
        QueryString("{} AND {} AND {}", where, reader.condition(), keyset),
        "ORDER BY n.created_at, n.id LIMIT {}",
        limit,
    )
    return [_opened(ring, r) for r in found]


async def edit_note(
    ring: KeyRing,
    org: uuid.UUID,
    note: Row,
    *,
    body: str | None,
    visibility: Visibility | None,
    by: uuid.UUID,
    expected_version: int | None,
) -> tuple[Row, bool]:
    """A new version of `note` (read with `lock=True` in this transaction): the new body and/or
    visibility, the rest carried from the current version. Returns the note opened and whether
    a version was written (an edit that changes nothing writes none). Conflict `stale_version`
    when the caller edited an older version than the current one."""
    current = int(note["version"])
    if expected_version is not None and expected_version != current:
        raise Conflict(
            "the note changed since that version; read it again",
            {"version": current},
            code="stale_version",
        )
    new_body = note["body"] if body is None else _body(body)
    new_visibility = Visibility(note["visibility"]) if visibility is None else visibility
    if new_body is None:  # the patient was erased: there is nothing left to edit
        raise Invalid({"body": "the note's patient was erased"})
    if new_body == note["body"] and new_visibility == note["visibility"]:
        return note, False
    version = current + 1
    await _revise(ring, org, note["id"], note["patient_id"], version, new_body, new_visibility, by)
    await Notes.update(
        {
            Notes.version: version,
            Notes.visibility: new_visibility.value,
            Notes.updated_at: datetime.now(UTC),
        }
    ).where(Notes.id == note["id"])
    found = await get_note(ring, note["id"])
    assert found is not None
    return found, True


async def note_history(
    ring: KeyRing, note_id: uuid.UUID, *, limit: int, after_version: int | None
) -> list[Row]:
    """The note's versions, oldest first, after `after_version`: body (opened), visibility,
    who wrote it and when."""
    query = NoteRevisions.select(
        NoteRevisions.id,
        NoteRevisions.organization_id,
        NoteRevisions.note_id,
        NoteRevisions.version,
        NoteRevisions.body,
        NoteRevisions.visibility,
        NoteRevisions.edited_by,
        NoteRevisions.created_at,
    ).where(NoteRevisions.note_id == note_id)
    if after_version is not None:
        query = query.where(NoteRevisions.version > after_version)
    found = await rows(query.order_by(NoteRevisions.version).limit(limit))
    out = []
    for r in found:
        sealed = r["body"]
        body = None if sealed is None else ring.open(sealed, _ref(r["organization_id"], r["id"]))
        out.append({**r, "body": body})
    return out


async def shared_notes_for_appointment(keys: KeyRing, appointment_id: uuid.UUID) -> list[Row]:
    """The appointment's notes shared with the care team, oldest first, each as
    `{"id", "author_name", "body", "created_at", "updated_at"}` (the appointment summary
    document). Runs inside a tenant transaction; private notes are never included, whoever
    asks. A note whose patient was erased has `body` None."""
    found = await _select(
        QueryString(
            "n.appointment_id = {} AND n.visibility = {}",
            appointment_id,
            Visibility.CARE_TEAM.value,
        ),
        "ORDER BY n.created_at, n.id LIMIT {}",
        MAX_SHARED,
    )
    return [
        {k: note[k] for k in ("id", "author_name", "body", "created_at", "updated_at")}
        for note in (_opened(keys, r) for r in found)
    ]
