"""The exercise library: global rows (organization_id NULL) and each organization's own.

Reads run on a tenant connection, where the dual-scope policy shows global rows and the
organization's own, or on an anonymous one (superadmin: global rows only). Writes of global rows
run on the platform connection; the caller decides which (`org_id` None means global). Every
kinematic definition passes `pipelines.pose` validation before it is stored, and is
stored in its canonical form (`Kinematics.to_dict()`), so a reader can always build it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from pipelines.pose import Kinematics, KinematicsError
from storage.audit import AuditActor, record
from storage.telerehab._errors import Invalid, NotFound, ReadOnly

TRANSLATABLE = ("name", "description", "instructions", "contraindications")
WRITABLE = (
    "slug", "name", "description", "instructions", "contraindications", "video_key",
    "image_key", "category", "body_region", "equipment", "difficulty", "tags", "kinematics",
    "translations",
)  # fmt: skip
_COLUMNS = """id, organization_id, slug, name, description, instructions, contraindications,
  video_key, image_key, category, body_region, equipment, difficulty, tags, kinematics,
  translations, source_exercise_id, created_at, updated_at"""


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


async def list_exercises(
    conn: asyncpg.Connection,
    *,
    language: str | None,
    filters: ExerciseFilter = ExerciseFilter(),
    limit: int = 50,
    after: tuple[str, uuid.UUID] | None = None,
) -> list[tuple[Exercise, tuple[str, uuid.UUID]]]:
    """Visible live exercises ordered by (sort name, id), at most `limit`, each with its sort
    key (the last one's key is the next page's `after`)."""
    sort = "lower(coalesce(translations #>> ARRAY[$1::text, 'name'], name))"
    clauses = ["deleted_at IS NULL"]
    args: list[Any] = [language or ""]

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if filters.scope == "global":
        clauses.append("organization_id IS NULL")
    elif filters.scope == "organization":
        clauses.append("organization_id IS NOT NULL")
    for column in ("category", "body_region", "difficulty", "slug"):
        value = getattr(filters, column)
        if value is not None:
            clauses.append(f"{column} = {bind(value)}")
    if filters.tag is not None:
        clauses.append(f"{bind(filters.tag)} = ANY(tags)")
    if filters.query:
        clauses.append(f"{sort} LIKE {bind('%' + _like(filters.query.lower()) + '%')}")
    if after is not None:
        clauses.append(f"({sort}, id) > ({bind(after[0])}, {bind(after[1])})")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, {sort} AS sort_name FROM exercises WHERE {' AND '.join(clauses)} "
        f"ORDER BY sort_name, id LIMIT {bind(limit)}",
        *args,
    )
    return [(_exercise(r, language), (r["sort_name"], r["id"])) for r in rows]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get_exercise(
    conn: asyncpg.Connection, exercise_id: uuid.UUID, *, language: str | None = None
) -> Exercise:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM exercises WHERE id = $1 AND deleted_at IS NULL", exercise_id
    )
    if row is None:
        raise NotFound("exercise")
    return _exercise(row, language)


async def exercises_by_id(
    conn: asyncpg.Connection, ids: Sequence[uuid.UUID], *, language: str | None = None
) -> dict[uuid.UUID, Exercise]:
    """The visible, live exercises among `ids` (unknown, foreign and deleted ones are absent)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM exercises WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL",
        list(set(ids)),
    )
    return {r["id"]: _exercise(r, language) for r in rows}


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
    """Insert an exercise of `org_id` (None: global, platform connection only)."""
    values = _values(data)
    values["organization_id"] = org_id
    values["source_exercise_id"] = source_exercise_id
    values["created_by"] = actor.user_id
    names = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO exercises ({', '.join(names)}) VALUES ({placeholders}) RETURNING {_COLUMNS}",
        *values.values(),
    )
    assert row is not None
    created = _exercise(row, None)
    await record(
        conn, actor=actor, organization_id=org_id, action="exercise.created", entity="exercise",
        entity_id=created.id, after=_audit_view(created),
    )  # fmt: skip
    return created


async def _writable(
    conn: asyncpg.Connection, exercise_id: uuid.UUID, org_id: uuid.UUID | None
) -> Exercise:
    """The exercise to change: global rows only on the platform path (`org_id` None)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM exercises WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        exercise_id,
    )
    if row is None:
        # Under row-level security FOR UPDATE sees only the rows the caller may update; a global
        # row it can read is refused as read-only rather than reported unknown.
        if await conn.fetchval(
            "SELECT organization_id IS NULL FROM exercises WHERE id = $1 AND deleted_at IS NULL",
            exercise_id,
        ):
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
    before = await _writable(conn, exercise_id, org_id)
    values = _values(changes)
    if not values:
        return before
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
    row = await conn.fetchrow(
        f"UPDATE exercises SET {sets}, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        exercise_id,
        *values.values(),
    )
    assert row is not None
    after = _exercise(row, None)
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
    before = await _writable(conn, exercise_id, org_id)
    await conn.execute(
        "UPDATE exercises SET deleted_at = now(), updated_at = now() WHERE id = $1", exercise_id
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
    source = await get_exercise(conn, exercise_id, language=language)
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
