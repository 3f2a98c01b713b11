"""A clinic's fields and form templates, and the versions publishing freezes.

A template is its own draft: a name, a kind and an ordered list of the clinic's field ids.
Publishing copies each field as it is now into a new version; a version is never changed
(the database refuses), so editing a field or the draft afterwards only shapes the next one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from storage.errors import Invalid
from storage.forms._fields import Field, check_field
from storage.orm import first, rows
from storage.tables._forms import FormFields, FormTemplates, FormTemplateVersions

Row = dict[str, Any]
KINDS = ("intake", "consent", "assessment", "other")
MAX_NAME = 200
MAX_TEMPLATE_FIELDS = 200
_F = FormFields
_T = FormTemplates
_V = FormTemplateVersions


def _field_spec(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored field as the definition a clinic writes (`type`, `min`, `max`)."""
    return {
        "key": row["key"],
        "label": row["label"],
        "type": row["field_type"],
        "options": row["options"],
        "min": row["min_value"],
        "max": row["max_value"],
        "required": row["required"],
        "red_flag": row["red_flag"],
        "alert_at": row["alert_at"],
    }


def field_row(row: Mapping[str, Any]) -> Row:
    """A stored field with its definition under the API's names."""
    return {
        "id": row["id"],
        **_field_spec(row),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _columns(f: Field) -> dict[Any, Any]:
    return {
        _F.label: f.label,
        _F.options: None if f.options is None else list(f.options),
        _F.min_value: f.min,
        _F.max_value: f.max,
        _F.required: f.required,
        _F.red_flag: f.red_flag,
        _F.alert_at: f.alert_at,
    }


async def create_field(org: uuid.UUID, spec: Mapping[str, Any], by: uuid.UUID | None) -> Row:
    """A new field of the clinic; a key the clinic already uses is a conflict (the database's
    unique key answers it)."""
    f = check_field(spec)
    values = {c._meta.name: v for c, v in _columns(f).items()}
    inserted = await rows(
        _F.insert(
            _F(
                id=uuid.uuid4(), organization_id=org, key=f.key, field_type=f.type,
                created_by=by, **values,
            )
        ).returning(*_F.all_columns())
    )  # fmt: skip
    return field_row(inserted[0])


async def list_fields() -> list[Row]:
    found = await rows(_F.select().order_by(_F.key).limit(1000))
    return [field_row(r) for r in found]


async def update_field(field_id: uuid.UUID, changes: Mapping[str, Any]) -> Row | None:
    """The field with `changes` applied (its key and type stay: answers are keyed by them);
    None when there is no such field. Published versions keep their own copies."""
    current = await first(_F.select().where(_F.id == field_id).first())
    if current is None:
        return None
    for fixed in ("key", "type"):
        if (
            fixed in changes
            and changes[fixed] != current["field_type" if fixed == "type" else fixed]
        ):
            raise Invalid({fixed: "cannot change (answers are keyed by it)"})
    f = check_field({**_field_spec(current), **changes})
    updated = await rows(
        _F.update({**_columns(f), _F.updated_at: datetime.now(UTC)})
        .where(_F.id == field_id)
        .returning(*_F.all_columns())
    )
    return field_row(updated[0])


# --- templates -----------------------------------------------------------------------------


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise Invalid({"name": f"must be 1 to {MAX_NAME} characters"})
    return value


def _kind(value: Any) -> str:
    if value not in KINDS:
        raise Invalid({"kind": "must be one of " + ", ".join(KINDS)})
    return str(value)


async def _known_fields(field_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    ids = list(field_ids)
    if len(ids) > MAX_TEMPLATE_FIELDS:
        raise Invalid({"field_ids": f"must be at most {MAX_TEMPLATE_FIELDS}"})
    if len(set(ids)) != len(ids):
        raise Invalid({"field_ids": "must not repeat a field"})
    if ids:
        found = await rows(_F.select(_F.id).where(_F.id.is_in(ids)))
        if len(found) != len(ids):
            raise Invalid({"field_ids": "names fields this clinic does not have"})
    return ids


async def create_template(
    org: uuid.UUID, name: str, kind: str, field_ids: Sequence[uuid.UUID], by: uuid.UUID | None
) -> Row:
    ids = await _known_fields(field_ids)
    inserted = await rows(
        _T.insert(
            _T(
                id=uuid.uuid4(), organization_id=org, name=_name(name), kind=_kind(kind),
                field_ids=ids, created_by=by,
            )
        ).returning(*_T.all_columns())
    )  # fmt: skip
    return inserted[0]


async def get_template(template_id: uuid.UUID) -> Row | None:
    return await first(_T.select().where(_T.id == template_id).first())


async def list_templates(kind: str | None = None) -> list[Row]:
    query = _T.select()
    if kind is not None:
        query = query.where(_T.kind == kind)
    return await rows(query.order_by(_T.name).limit(1000))


async def update_template(template_id: uuid.UUID, changes: Mapping[str, Any]) -> Row | None:
    """The draft with `changes` (name, kind, field_ids); published versions stay as they are."""
    values: dict[Any, Any] = {_T.updated_at: datetime.now(UTC)}
    if "name" in changes:
        values[_T.name] = _name(changes["name"])
    if "kind" in changes:
        values[_T.kind] = _kind(changes["kind"])
    if "field_ids" in changes:
        values[_T.field_ids] = await _known_fields(changes["field_ids"])
    updated = await rows(_T.update(values).where(_T.id == template_id).returning(*_T.all_columns()))
    return updated[0] if updated else None


def version_fields(version: Mapping[str, Any]) -> list[Field]:
    return [Field.of(f) for f in version["fields"]]


async def publish(
    conn: asyncpg.Connection, org: uuid.UUID, template_id: uuid.UUID, by: uuid.UUID | None
) -> tuple[Row, bool] | None:
    """Freeze the draft into a new version: (the version, True). A draft that is what the
    newest version already holds publishes nothing: (that version, False). None: no template."""
    template = await conn.fetchrow(
        "SELECT * FROM form_templates WHERE id = $1 FOR UPDATE", template_id
    )
    if template is None:
        return None
    ids: list[uuid.UUID] = list(template["field_ids"])
    if not ids:
        raise Invalid({"field_ids": "a form needs at least one field to be published"})
    found = {r["id"]: r for r in await rows(_F.select().where(_F.id.is_in(ids)))}
    frozen = [
        {"field_id": str(i), **check_field(_field_spec(found[i])).as_dict()}
        for i in ids
        if i in found
    ]
    current = template["current_version"]
    if current is not None:
        latest = await get_version(template_id, current)
        if (
            latest is not None
            and latest["fields"] == frozen
            and (latest["name"], latest["kind"]) == (template["name"], template["kind"])
        ):
            return latest, False
    version = (current or 0) + 1
    inserted = await rows(
        _V.insert(
            _V(
                id=uuid.uuid4(), organization_id=org, template_id=template_id, version=version,
                name=template["name"], kind=template["kind"], fields=frozen, published_by=by,
            )
        ).returning(*_V.all_columns())
    )  # fmt: skip
    await _T.update({_T.current_version: version, _T.updated_at: datetime.now(UTC)}).where(
        _T.id == template_id
    )
    return inserted[0], True


async def get_version(template_id: uuid.UUID, version: int) -> Row | None:
    return await first(
        _V.select().where((_V.template_id == template_id) & (_V.version == version)).first()
    )


async def version_by_id(version_id: uuid.UUID) -> Row | None:
    return await first(_V.select().where(_V.id == version_id).first())


async def list_versions(template_id: uuid.UUID) -> list[Row]:
    return await rows(
        _V.select().where(_V.template_id == template_id).order_by(_V.version, ascending=False)
    )


async def latest_version(template_id: uuid.UUID) -> Row | None:
    """The newest published version of the template (None: unknown or never published)."""
    return await first(
        _V.select()
        .where(_V.template_id == template_id)
        .order_by(_V.version, ascending=False)
        .first()
    )
