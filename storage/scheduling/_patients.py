"""Patients as their callers may see them: one by id, a page in creation order, a search, and a
patient's cancellations.

Who sees whom is `PatientScope`: the front desk sees every patient of the organization, a
specialist the patients they treat (storage/care_team.py's rule, the same SQL as everywhere),
a patient themself. Rows come back as stored: encrypted columns stay sealed (storage/sealed.py).
Piccolo for the plain reads; raw SQL for the search, which is Postgres's (trigram similarity
over an accent-folding expression index, a transaction-local similarity threshold).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable
from piccolo.querystring import QueryString

from storage.care_team import treats_condition
from storage.orm import first, rows
from storage.scheduling._catalog import Keyset, Row, page_rows
from storage.tables import Cancellations, Patients

# = the trigram index expression (migrations), so the search can use the index.
_NAME = "f_unaccent(lower(t.first_name || ' ' || t.last_name))"
# Lower than pg_trgm's 0.6 default, so a one-letter typo in a short name still matches.
_WORD_SIMILARITY = "0.4"


@dataclass(frozen=True, slots=True)
class PatientScope:
    """The patients a caller may see: every patient of the organization ("all"), those the
    specialist `id` treats ("treated"), or the patient `id` themself ("self"). A "treated" or
    "self" scope without an id (a token lacking the claim) sees none."""

    kind: Literal["all", "treated", "self"] = "all"
    id: uuid.UUID | None = None

    def condition(self, alias: str) -> QueryString | None:
        """SQL (with its arguments) restricting patients `alias` to the scope; None: all."""
        if self.kind == "all":
            return None
        if self.kind == "self" or self.id is None:
            return QueryString(f"{alias}.id = {{}}", self.id)  # NULL matches no patient
        # The care-team rule names the specialist several times: one argument each.
        template = treats_condition(f"{alias}.id", "{}")
        return QueryString(template, *[self.id] * template.count("{}"))


def _where(scope: PatientScope) -> Combinable | None:
    found = scope.condition('"patients"')
    return None if found is None else WhereRaw(f"({found.template})", *found.args)


async def patient_exists(patient_id: uuid.UUID, *, deleted_too: bool = False) -> bool:
    """Whether the organization has the patient (`deleted_too`: also a deleted one)."""
    where: Combinable = Patients.id == patient_id
    if not deleted_too:
        where &= Patients.deleted_at.is_null()
    found: bool = await Patients.exists().where(where)
    return found


async def get_patient(patient_id: uuid.UUID, scope: PatientScope) -> Row | None:
    """The patient's row if it is not deleted and within the scope."""
    where: Combinable = (Patients.id == patient_id) & Patients.deleted_at.is_null()
    seen = _where(scope)
    if seen is not None:
        where &= seen
    return await first(Patients.select().where(where).first())


async def list_patients(scope: PatientScope, limit: int, after: Keyset | None) -> list[Row]:
    """Up to `limit` patients of the scope in creation order, after `after`."""
    return await page_rows(Patients, limit, after, where=_where(scope))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_patients(
    conn: asyncpg.Connection,
    scope: PatientScope,
    text: str,
    *,
    email_key: bytes | None,
    phone_key: bytes | None,
    limit: int,
    offset: int,
) -> list[Row]:
    """Patients of the scope whose name contains `text` or resembles it (accent- and
    case-insensitive), or whose e-mail or phone blind index is the given key; best first."""
    await conn.execute(
        "SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)", _WORD_SIMILARITY
    )
    query = QueryString(
        f"""SELECT t.*, word_similarity(f_unaccent(lower({{}})), {_NAME}) AS score
            FROM patients t
            WHERE t.deleted_at IS NULL AND {{}} AND (
              {_NAME} LIKE f_unaccent(lower({{}}))
              OR f_unaccent(lower({{}})) <% {_NAME}
              OR t.email_bidx = {{}}
              OR ({{}}::bytea IS NOT NULL AND t.phone_bidx = {{}}))
            ORDER BY score DESC, t.last_name, t.first_name, t.id
            LIMIT {{}} OFFSET {{}}""",
        text,
        scope.condition("t") or QueryString("TRUE"),
        _like(text),
        text,
        email_key,
        phone_key,
        phone_key,
        limit,
        offset,
    )
    sql, args = query.compile_string(engine_type="postgres")
    return [dict(r.items()) for r in await conn.fetch(sql, *args)]


async def patient_cancellations(
    patient_id: uuid.UUID,
    limit: int,
    before: Keyset | None,
    *,
    specialist_id: uuid.UUID | None = None,
) -> list[Row]:
    """Up to `limit` cancellations of the patient, newest first, before `before`; with
    `specialist_id`, only those of that specialist's appointments."""
    where: Combinable = Cancellations.patient_id == patient_id
    if specialist_id is not None:
        where &= Cancellations.specialist_id == specialist_id
    if before is not None:
        at = Cancellations.created_at
        where &= (at < before.created_at) | (
            (at == before.created_at) & (Cancellations.id < before.id)
        )
    return await rows(
        Cancellations.select()
        .where(where)
        .order_by(Cancellations.created_at, Cancellations.id, ascending=False)
        .limit(limit)
    )


async def patient_by_contact(email_key: bytes | None, phone_key: bytes | None) -> uuid.UUID | None:
    """The patient (not erased) whose e-mail, else whose phone, has this blind index, the oldest
    record first: a walk-in or a guest who has been here before is matched instead of
    duplicated. The e-mail is tried first: a phone may be a family's."""
    for column, key in ((Patients.email_bidx, email_key), (Patients.phone_bidx, phone_key)):
        if key is None:
            continue
        found = await first(
            Patients.select(Patients.id)
            .where((column == key) & Patients.deleted_at.is_null())
            .order_by(Patients.created_at, Patients.id)
            .first()
        )
        if found is not None:
            return uuid.UUID(str(found["id"]))
    return None
