"""The exercise library: global rows (organization_id NULL) and each organization's own.

Reads run in a tenant transaction, where the dual-scope policy shows global rows and the
organization's own, or in an anonymous one (superadmin: global rows only). Writes of global rows
run on the platform transaction; the caller decides which (`org_id` None means global). Every
kinematic definition passes `pipelines.pose` validation before it is stored, and is
stored in its canonical form (`Kinematics.to_dict()`), so a reader can always build it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from piccolo.query.functions.conditional import Coalesce
from piccolo.query.functions.string import Lower
from piccolo.querystring import QueryString

from pipelines.pose import Kinematics, KinematicsError
from storage.audit import AuditActor, record
from storage.orm import first, rows
from storage.tables import Exercises, Organizations
from storage.telerehab import _keyset as keyset
from storage.telerehab._errors import Invalid, NotFound, ReadOnly

TRANSLATABLE = ("name", "description", "instructions", "contraindications")
WRITABLE = (
    "slug", "name", "description", "instructions", "contraindications", "video_key",
    "image_key", "category", "body_region", "equipment", "difficulty", "tags", "kinematics",
    "translations",
)  # fmt: skip
_COLUMNS = (
    Exercises.id, Exercises.organization_id, Exercises.slug, Exercises.name,
    Exercises.description, Exercises.instructions, Exercises.contraindications,
    Exercises.video_key, Exercises.image_key, Exercises.category, Exercises.body_region,
    Exercises.equipment, Exercises.difficulty, Exercises.tags, Exercises.kinematics,
    Exercises.translations, Exercises.source_exercise_id, Exercises.created_at,
    Exercises.updated_at,
)  # fmt: skip
# The database's defaults of the writable columns a request may leave out (a Piccolo insert
# writes every column).
_DEFAULTS: dict[str, Any] = {
    "slug": None, "description": "", "instructions": [], "contraindications": [],
    "video_key": None, "image_key": None, "equipment": [], "tags": [], "kinematics": None,
    "translations": {},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Exercise:
    """One library exercise, its text in `language` (the global row's translation when it has
    one, else its own text)."""

    id: uuid.UUID
    organization_id: uuid.UUID | None
    slug: str | None
    name: str
    description: str
    instructions: tuple[str, ...]
    contraindications: tuple[str, ...]
    video_key: str | None
    image_key: str | None
    category: str
    body_region: str
    equipment: tuple[str, ...]
    difficulty: str
    tags: tuple[str, ...]
    kinematics: Mapping[str, Any] | None
    translations: Mapping[str, Any]
    source_exercise_id: uuid.UUID | None
    language: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_global(self) -> bool:
        return self.organization_id is None

    def driving_angles(self) -> list[dict[str, Any]]:
        """The landmark index triples the driving angle is measured on, one per body side."""
        if self.kinematics is None:
            return []
        spec = Kinematics.from_dict(self.kinematics).driving
        sides = ["left", "right"] if spec.side.value == "both" else [spec.side.value]
        return [
            {"landmarks": list(triple), "side": side}
            for triple, side in zip(spec.triples(), sides, strict=True)
        ]

    def definition(self) -> dict[str, Any]:
        """The content a plan snapshot embeds: what a session needs to run this exercise."""
        return {
            "exercise_id": str(self.id),
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "instructions": list(self.instructions),
            "contraindications": list(self.contraindications),
            "video_key": self.video_key,
            "image_key": self.image_key,
            "kinematics": None if self.kinematics is None else dict(self.kinematics),
            "kinematics_digest": (
                None if self.kinematics is None else Kinematics.from_dict(self.kinematics).digest()
            ),
            # Readers in another language localize from these; the snapshot itself never changes.
            "translations": dict(self.translations),
        }


def _exercise(row: Mapping[str, Any], language: str | None) -> Exercise:
    text = {key: row[key] for key in TRANSLATABLE}
    translated = (row["translations"] or {}).get(language) if language else None
    if isinstance(translated, Mapping):
        text.update({k: v for k, v in translated.items() if k in TRANSLATABLE and v})
    return Exercise(
        id=row["id"],
        organization_id=row["organization_id"],
        slug=row["slug"],
        name=text["name"],
        description=text["description"],
        instructions=tuple(text["instructions"]),
        contraindications=tuple(text["contraindications"]),
        video_key=row["video_key"],
        image_key=row["image_key"],
        category=row["category"],
        body_region=row["body_region"],
        equipment=tuple(row["equipment"]),
        difficulty=row["difficulty"],
        tags=tuple(row["tags"]),
        kinematics=row["kinematics"],
        translations=row["translations"] or {},
        source_exercise_id=row["source_exercise_id"],
        language=language,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def canonical_kinematics(data: object, path: str = "kinematics") -> dict[str, Any]:
    """The definition in canonical form; Invalid with one message per offending field."""
    if not isinstance(data, Mapping):
        raise Invalid({path: "must be an object"})
    try:
        return Kinematics.from_dict(data).to_dict()
    except KinematicsError as exc:  # pipelines.pose validates field by field and lists them all
        raise Invalid(
            {f"{path}.{e.path}" if e.path else path: e.message for e in exc.errors}
        ) from None


@dataclass(frozen=True, slots=True)
class ExerciseFilter:
    scope: str | None = None  # "global" | "organization" | None (both)
    category: str | None = None
    body_region: str | None = None
    difficulty: str | None = None
    tag: str | None = None
    query: str | None = None
    slug: str | None = None


def _sort_name(language: str | None) -> QueryString:
    """The name a list is sorted and searched by: the translation in `language` when the row
    has one, else its own name, lowercased. The JSON path is SQL (`#>>`, the text at a path):
    the builder's JSON operators yield jsonb, not the text the order needs."""
    translated = QueryString(
        "{} #>> ARRAY[{}::text, 'name']", Exercises.translations, language or ""
    )
    return Lower(Coalesce(translated, Exercises.name), alias="sort_name")


async def list_exercises(
    *,
    language: str | None,
    filters: ExerciseFilter = ExerciseFilter(),
    limit: int = 50,
    after: tuple[str, uuid.UUID] | None = None,
) -> list[tuple[Exercise, tuple[str, uuid.UUID]]]:
    """Visible live exercises ordered by (sort name, id), at most `limit`, each with its sort
    key (the last one's key is the next page's `after`)."""
    sort = _sort_name(language)
    query = Exercises.select(*_COLUMNS, sort).where(Exercises.deleted_at.is_null())
    if filters.scope == "global":
        query = query.where(Exercises.organization_id.is_null())
    elif filters.scope == "organization":
        query = query.where(Exercises.organization_id.is_not_null())
    for name in ("category", "body_region", "difficulty", "slug"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(Exercises, name) == value)
    if filters.tag is not None:
        query = query.where(Exercises.tags.any(filters.tag))
    if filters.query:
        query = query.where(sort.like("%" + _like(filters.query.lower()) + "%"))
    if after is not None:
        query = query.where(keyset.after(sort, Exercises.id, after))
    found = await rows(query.order_by(sort, Exercises.id).limit(limit))
    return [(_exercise(r, language), (r["sort_name"], r["id"])) for r in found]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _live(exercise_id: uuid.UUID) -> Any:
    # A new query each time: Piccolo's query methods change the query they are called on.
    return Exercises.select(*_COLUMNS).where(
        (Exercises.id == exercise_id) & Exercises.deleted_at.is_null()
    )


async def get_exercise(exercise_id: uuid.UUID, *, language: str | None = None) -> Exercise:
    row = await first(_live(exercise_id).first())
    if row is None:
        raise NotFound("exercise")
    return _exercise(row, language)


async def exercises_by_id(
    ids: Sequence[uuid.UUID], *, language: str | None = None
) -> dict[uuid.UUID, Exercise]:
    """The visible, live exercises among `ids` (unknown, foreign and deleted ones are absent)."""
    if not ids:
        return {}
    found = await rows(
        Exercises.select(*_COLUMNS).where(
            Exercises.id.is_in(list(set(ids))) & Exercises.deleted_at.is_null()
        )
    )
    return {r["id"]: _exercise(r, language) for r in found}


async def organization_language() -> str | None:
    """The language of the transaction's organization (None outside one): the library's text
    and a published snapshot are given in it unless the caller asks for another."""
    row = await first(
        Organizations.select(Organizations.language)
        # app_org_id(): the organization the transaction is sealed to (storage/db.py).
        .where(Organizations.id == QueryString("app_org_id()"))
        .first()
    )
    return None if row is None else cast(str | None, row["language"])


def _values(data: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: data[k] for k in WRITABLE if k in data}
    if values.get("kinematics") is not None:
        values["kinematics"] = canonical_kinematics(values["kinematics"])
    for key in ("equipment", "tags"):
        if key in values:
            values[key] = sorted(set(values[key]))
    return values


def _audit_view(ex: Exercise) -> dict[str, Any]:
    return {
        "name": ex.name,
        "slug": ex.slug,
        "category": ex.category,
        "body_region": ex.body_region,
        "difficulty": ex.difficulty,
        "kinematics": ex.definition()["kinematics_digest"],
        "video_key": ex.video_key,
        "image_key": ex.image_key,
        "deleted": False,
    }


async def create_exercise(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID | None,
    data: Mapping[str, Any],
    actor: AuditActor,
    source_exercise_id: uuid.UUID | None = None,
) -> Exercise:
    """Insert an exercise of `org_id` (None: global, platform connection only). `conn` is the
    transaction's connection, for the audit row."""
    row = Exercises(
        **{**_DEFAULTS, **_values(data)},
        organization_id=org_id,
        source_exercise_id=source_exercise_id,
        created_by=actor.user_id,
    )
    inserted = await rows(Exercises.insert(row).returning(*_COLUMNS))
    created = _exercise(inserted[0], None)
    await record(
        conn, actor=actor, organization_id=org_id, action="exercise.created", entity="exercise",
        entity_id=created.id, after=_audit_view(created),
    )  # fmt: skip
    return created


async def _writable(exercise_id: uuid.UUID, org_id: uuid.UUID | None) -> Exercise:
    """The exercise to change, locked: global rows only on the platform path (`org_id` None)."""
    row = await first(_live(exercise_id).lock_rows().first())
    if row is None:
        # Under row-level security FOR UPDATE sees only the rows the caller may update; a global
        # row it can read is refused as read-only rather than reported unknown.
        readable = await first(_live(exercise_id).first())
        if readable is not None and readable["organization_id"] is None:
            raise ReadOnly("exercise")
        raise NotFound("exercise")
    if row["organization_id"] != org_id:  # the platform path sees every row; global are its own
        raise NotFound("exercise")
    return _exercise(row, None)


async def update_exercise(
    conn: asyncpg.Connection,
    exercise_id: uuid.UUID,
    *,
    org_id: uuid.UUID | None,
    changes: Mapping[str, Any],
    actor: AuditActor,
) -> Exercise:
    before = await _writable(exercise_id, org_id)
    values = _values(changes)
    if not values:
        return before
    updated = await rows(
        Exercises.update(
            {**{getattr(Exercises, k): v for k, v in values.items()},
             Exercises.updated_at: datetime.now(UTC)}
        )
        .where(Exercises.id == exercise_id)
        .returning(*_COLUMNS)
    )  # fmt: skip
    after = _exercise(updated[0], None)
    await record(
        conn, actor=actor, organization_id=org_id, action="exercise.updated", entity="exercise",
        entity_id=exercise_id, before=_audit_view(before), after=_audit_view(after),
    )  # fmt: skip
    return after


async def delete_exercise(
    conn: asyncpg.Connection,
    exercise_id: uuid.UUID,
    *,
    org_id: uuid.UUID | None,
    actor: AuditActor,
) -> None:
    """Soft delete: published plan snapshots keep their copy of the exercise; new drafts may no
    longer use it."""
    before = await _writable(exercise_id, org_id)
    now = datetime.now(UTC)
    await Exercises.update({Exercises.deleted_at: now, Exercises.updated_at: now}).where(
        Exercises.id == exercise_id
    )
    await record(
        conn, actor=actor, organization_id=org_id, action="exercise.deleted", entity="exercise",
        entity_id=exercise_id, before=_audit_view(before),
        after={**_audit_view(before), "deleted": True},
    )  # fmt: skip


async def clone_exercise(
    conn: asyncpg.Connection,
    exercise_id: uuid.UUID,
    *,
    org_id: uuid.UUID,
    language: str | None,
    actor: AuditActor,
) -> Exercise:
    """Copy a visible exercise into the organization, its text baked in `language` (the clone is
    the organization's own content, edited in its own language from then on)."""
    source = await get_exercise(exercise_id, language=language)
    data = {
        "name": source.name,
        "description": source.description,
        "instructions": list(source.instructions),
        "contraindications": list(source.contraindications),
        "video_key": source.video_key,
        "image_key": source.image_key,
        "category": source.category,
        "body_region": source.body_region,
        "equipment": list(source.equipment),
        "difficulty": source.difficulty,
        "tags": list(source.tags),
        "kinematics": None if source.kinematics is None else dict(source.kinematics),
    }
    return await create_exercise(
        conn, org_id=org_id, data=data, actor=actor, source_exercise_id=source.id
    )
