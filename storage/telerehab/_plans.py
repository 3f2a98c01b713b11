"""Treatment plans in three scopes and their versions.

Scopes: `global` (organization_id NULL; written on the platform path only), `organization`, and
`custom` (one patient's plan). Each plan has at most one draft; `publish` freezes the draft into
an immutable snapshot and archives the previously published version. Editing a plan whose latest
version is published starts a new draft (version + 1); nothing assigned ever changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from storage.audit import AuditActor, record
from storage.telerehab._errors import Conflict, Invalid, NotFound, ReadOnly
from storage.telerehab._plan_content import build_snapshot, check_content
from storage.telerehab._states import VersionAction, VersionStatus, next_version_status


class Scope(StrEnum):
    GLOBAL = "global"
    ORGANIZATION = "organization"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Plan:
    id: uuid.UUID
    organization_id: uuid.UUID | None
    scope: Scope
    patient_id: uuid.UUID | None
    name: str
    description: str
    plan_type: str
    source_plan_id: uuid.UUID | None
    source_version: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PlanVersion:
    id: uuid.UUID
    plan_id: uuid.UUID
    organization_id: uuid.UUID | None
    version: int
    status: VersionStatus
    content: Mapping[str, Any]
    snapshot: Mapping[str, Any] | None
    snapshot_digest: str | None
    created_at: datetime
    published_at: datetime | None


_PLAN = """id, organization_id, scope, patient_id, name, description, plan_type, source_plan_id,
  source_version, created_at, updated_at"""
_VERSION = """id, plan_id, organization_id, version, status, content, snapshot, snapshot_digest,
  created_at, published_at"""


def _plan(row: Mapping[str, Any]) -> Plan:
    return Plan(**{**dict(row), "scope": Scope(row["scope"])})


def _version(row: Mapping[str, Any]) -> PlanVersion:
    return PlanVersion(**{**dict(row), "status": VersionStatus(row["status"])})


def _audit_view(plan: Plan) -> dict[str, Any]:
    return {"name": plan.name, "scope": plan.scope.value, "plan_type": plan.plan_type}


async def get_plan(conn: asyncpg.Connection, plan_id: uuid.UUID) -> Plan:
    row = await conn.fetchrow(
        f"SELECT {_PLAN} FROM treatment_plans WHERE id = $1 AND deleted_at IS NULL", plan_id
    )
    if row is None:
        raise NotFound("treatment plan")
    return _plan(row)


async def _writable(conn: asyncpg.Connection, plan_id: uuid.UUID, org_id: uuid.UUID | None) -> Plan:
    """The plan to change, locked: global plans only on the platform path (`org_id` None)."""
    row = await conn.fetchrow(
        f"SELECT {_PLAN} FROM treatment_plans WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        plan_id,
    )
    if row is None:
        # Under row-level security FOR UPDATE sees only the rows the caller may update; a global
        # row it can read is refused as read-only rather than reported unknown.
        if await conn.fetchval(
            "SELECT organization_id IS NULL FROM treatment_plans "
            "WHERE id = $1 AND deleted_at IS NULL",
            plan_id,
        ):
            raise ReadOnly("treatment plan")
        raise NotFound("treatment plan")
    if row["organization_id"] != org_id:  # the platform path sees every row; global are its own
        raise NotFound("treatment plan")
    return _plan(row)


async def list_plans(
    conn: asyncpg.Connection,
    *,
    scope: Scope | None = None,
    patient_id: uuid.UUID | None = None,
    limit: int = 50,
    after: tuple[str, uuid.UUID] | None = None,
) -> list[tuple[Plan, tuple[str, uuid.UUID]]]:
    """Live plans ordered by (lower(name), id). Custom plans are listed only for `patient_id`
    (they are one patient's clinical content)."""
    clauses = ["deleted_at IS NULL"]
    args: list[Any] = []

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if patient_id is not None:
        clauses.append(f"patient_id = {bind(patient_id)}")
    else:
        clauses.append("scope <> 'custom'")
    if scope is not None:
        clauses.append(f"scope = {bind(scope.value)}")
    if after is not None:
        clauses.append(f"(lower(name), id) > ({bind(after[0])}, {bind(after[1])})")
    rows = await conn.fetch(
        f"SELECT {_PLAN}, lower(name) AS sort_name FROM treatment_plans "
        f"WHERE {' AND '.join(clauses)} ORDER BY lower(name), id LIMIT {bind(limit)}",
        *args,
    )
    return [(_plan({k: r[k] for k in r.keys() if k != "sort_name"}), (r["sort_name"], r["id"]))
            for r in rows]  # fmt: skip


async def list_versions(conn: asyncpg.Connection, plan_id: uuid.UUID) -> list[PlanVersion]:
    rows = await conn.fetch(
        f"SELECT {_VERSION} FROM treatment_plan_versions WHERE plan_id = $1 ORDER BY version",
        plan_id,
    )
    return [_version(r) for r in rows]


async def get_version(
    conn: asyncpg.Connection, plan_id: uuid.UUID, version: int | None = None
) -> PlanVersion:
    """Version `version` of the plan, or (None) its latest published one."""
    if version is None:
        row = await conn.fetchrow(
            f"SELECT {_VERSION} FROM treatment_plan_versions "
            "WHERE plan_id = $1 AND status = 'published' ORDER BY version DESC LIMIT 1",
            plan_id,
        )
        if row is None:
            raise NotFound("published plan version")
    else:
        row = await conn.fetchrow(
            f"SELECT {_VERSION} FROM treatment_plan_versions WHERE plan_id = $1 AND version = $2",
            plan_id,
            version,
        )
        if row is None:
            raise NotFound("plan version")
    return _version(row)


async def get_version_by_id(conn: asyncpg.Connection, version_id: uuid.UUID) -> PlanVersion:
    row = await conn.fetchrow(
        f"SELECT {_VERSION} FROM treatment_plan_versions WHERE id = $1", version_id
    )
    if row is None:
        raise NotFound("plan version")
    return _version(row)


async def create_plan(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID | None,
    data: Mapping[str, Any],
    actor: AuditActor,
    source: tuple[uuid.UUID, int] | None = None,
    specialist_id: uuid.UUID | None = None,
) -> tuple[Plan, PlanVersion]:
    """A new plan with its content as draft version 1. `org_id` None: a global plan (platform
    connection only). `data`: name, description?, plan_type?, scope?, patient_id?, sessions.
    `specialist_id`: the prescribing specialist of a custom plan (the patient becomes theirs)."""
    scope = Scope.GLOBAL if org_id is None else Scope(data.get("scope") or Scope.ORGANIZATION)
    patient_id = data.get("patient_id")
    if scope is Scope.GLOBAL and org_id is not None:
        raise Invalid({"scope": "global plans are created on the platform path only"})
    if scope is Scope.CUSTOM:
        if patient_id is None:
            raise Invalid({"patient_id": "is required for a custom plan"})
        patient_id = uuid.UUID(str(patient_id))
        if not await conn.fetchval(
            "SELECT 1 FROM patients WHERE id = $1 AND deleted_at IS NULL", patient_id
        ):
            raise Invalid({"patient_id": "unknown patient"})
    elif patient_id is not None:
        raise Invalid({"patient_id": "only a custom plan belongs to a patient"})
    content = await check_content(
        conn, {"sessions": data.get("sessions")}, global_only=scope is Scope.GLOBAL
    )
    row = await conn.fetchrow(
        f"""INSERT INTO treatment_plans (organization_id, scope, patient_id, name, description,
              plan_type, source_plan_id, source_version, created_by, specialist_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {_PLAN}""",
        org_id,
        scope.value,
        patient_id,
        data["name"],
        data.get("description", ""),
        data.get("plan_type", "telerehab"),
        source[0] if source else None,
        source[1] if source else None,
        actor.user_id,
        specialist_id if scope is Scope.CUSTOM else None,
    )
    assert row is not None
    plan = _plan(row)
    draft = await _insert_draft(conn, plan, 1, content, actor)
    await record(
        conn, actor=actor, organization_id=org_id, action="treatment_plan.created",
        entity="treatment_plan", entity_id=plan.id, after=_audit_view(plan),
    )  # fmt: skip
    return plan, draft


async def _insert_draft(
    conn: asyncpg.Connection,
    plan: Plan,
    version: int,
    content: Mapping[str, Any],
    actor: AuditActor,
) -> PlanVersion:
    row = await conn.fetchrow(
        f"""INSERT INTO treatment_plan_versions (organization_id, plan_id, version, content,
              created_by) VALUES ($1, $2, $3, $4, $5) RETURNING {_VERSION}""",
        plan.organization_id,
        plan.id,
        version,
        content,
        actor.user_id,
    )
    assert row is not None
    return _version(row)


async def update_plan(
    conn: asyncpg.Connection,
    plan_id: uuid.UUID,
    *,
    org_id: uuid.UUID | None,
    changes: Mapping[str, Any],
    actor: AuditActor,
) -> Plan:
    """Rename or re-describe a plan. Published snapshots keep the name they were published with."""
    before = await _writable(conn, plan_id, org_id)
    values = {k: changes[k] for k in ("name", "description", "plan_type") if k in changes}
    if not values:
        return before
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
    row = await conn.fetchrow(
        f"UPDATE treatment_plans SET {sets}, updated_at = now() WHERE id = $1 RETURNING {_PLAN}",
        plan_id,
        *values.values(),
    )
    assert row is not None
    after = _plan(row)
    await record(
        conn, actor=actor, organization_id=org_id, action="treatment_plan.updated",
        entity="treatment_plan", entity_id=plan_id, before=_audit_view(before),
        after=_audit_view(after),
    )  # fmt: skip
    return after


async def delete_plan(
    conn: asyncpg.Connection, plan_id: uuid.UUID, *, org_id: uuid.UUID | None, actor: AuditActor
) -> None:
    """Soft delete: no new assignments; existing assignments keep their snapshots."""
    before = await _writable(conn, plan_id, org_id)
    await conn.execute(
        "UPDATE treatment_plans SET deleted_at = now(), updated_at = now() WHERE id = $1", plan_id
    )
    await record(
        conn, actor=actor, organization_id=org_id, action="treatment_plan.deleted",
        entity="treatment_plan", entity_id=plan_id, before=_audit_view(before),
        after={**_audit_view(before), "deleted": True},
    )  # fmt: skip


async def save_draft(
    conn: asyncpg.Connection,
    plan_id: uuid.UUID,
    *,
    org_id: uuid.UUID | None,
    content: object,
    actor: AuditActor,
) -> PlanVersion:
    """Replace the plan's draft content, or start a new draft (latest version + 1) when every
    version is published: published versions are never edited."""
    plan = await _writable(conn, plan_id, org_id)
    clean = await check_content(conn, content, global_only=plan.scope is Scope.GLOBAL)
    row = await conn.fetchrow(
        f"""UPDATE treatment_plan_versions SET content = $2, updated_at = now()
            WHERE plan_id = $1 AND status = 'draft' RETURNING {_VERSION}""",
        plan_id,
        clean,
    )
    if row is not None:
        draft = _version(row)
    else:
        latest = await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM treatment_plan_versions WHERE plan_id = $1",
            plan_id,
        )
        draft = await _insert_draft(conn, plan, int(latest) + 1, clean, actor)
    await record(
        conn, actor=actor, organization_id=org_id, action="treatment_plan.draft_saved",
        entity="treatment_plan", entity_id=plan_id, after={"version": draft.version},
    )  # fmt: skip
    return draft


async def publish(
    conn: asyncpg.Connection,
    plan_id: uuid.UUID,
    *,
    org_id: uuid.UUID | None,
    actor: AuditActor,
    language: str | None = None,
) -> PlanVersion:
    """Freeze the draft: its content is re-checked (an exercise may have been deleted since),
    the snapshot built, and the previously published version archived."""
    plan = await _writable(conn, plan_id, org_id)
    row = await conn.fetchrow(
        f"SELECT {_VERSION} FROM treatment_plan_versions WHERE plan_id = $1 AND status = 'draft'",
        plan_id,
    )
    if row is None:
        raise Conflict("the plan has no draft to publish")
    draft = _version(row)
    content = await check_content(conn, draft.content, global_only=plan.scope is Scope.GLOBAL)
    snapshot, digest = await build_snapshot(
        conn,
        content,
        plan={"id": plan.id, "name": plan.name, "description": plan.description,
              "plan_type": plan.plan_type, "scope": plan.scope.value},
        version=draft.version,
        language=language,
    )  # fmt: skip
    archived = next_version_status(VersionStatus.PUBLISHED, VersionAction.ARCHIVE)
    await conn.execute(
        "UPDATE treatment_plan_versions SET status = $2 "
        "WHERE plan_id = $1 AND status = 'published'",
        plan_id,
        archived.value,
    )
    published = next_version_status(draft.status, VersionAction.PUBLISH)
    row = await conn.fetchrow(
        f"""UPDATE treatment_plan_versions SET status = $2, snapshot = $3, snapshot_digest = $4,
              published_at = now(), published_by = $5, updated_at = now()
            WHERE id = $1 RETURNING {_VERSION}""",
        draft.id,
        published.value,
        snapshot,
        digest,
        actor.user_id,
    )
    assert row is not None
    await record(
        conn, actor=actor, organization_id=org_id, action="treatment_plan.published",
        entity="treatment_plan", entity_id=plan_id,
        after={"version": draft.version, "digest": digest},
    )  # fmt: skip
    return _version(row)


async def clone_plan(
    conn: asyncpg.Connection,
    plan_id: uuid.UUID,
    *,
    org_id: uuid.UUID | None,
    data: Mapping[str, Any],
    actor: AuditActor,
    specialist_id: uuid.UUID | None = None,
) -> tuple[Plan, PlanVersion]:
    """Copy a visible plan's version (`data["version"]`, else the latest published, else the
    draft) into a new plan of `data["scope"]` as its draft version 1. Cloning to a narrower scope
    personalizes (global -> organization -> custom); to a broader one it promotes (custom ->
    organization, and organization -> global on the platform path, `org_id` None)."""
    source = await get_plan(conn, plan_id)
    requested = data.get("version")
    if requested is not None:
        version = await get_version(conn, plan_id, int(requested))
    else:
        try:
            version = await get_version(conn, plan_id)
        except NotFound:
            version = await get_version(conn, plan_id, await _draft_number(conn, plan_id))
    body = {
        "name": data.get("name") or source.name,
        "description": source.description,
        "plan_type": source.plan_type,
        "scope": data.get("scope"),
        "patient_id": data.get("patient_id"),
        "sessions": version.content["sessions"],
    }
    try:
        return await create_plan(
            conn,
            org_id=org_id,
            data=body,
            actor=actor,
            source=(source.id, version.version),
            specialist_id=specialist_id,
        )
    except Invalid as exc:
        # The source's exercises may not exist in the target scope (an organization's own
        # exercise cannot go into a global plan); name the fields as the caller sent them.
        raise Invalid({k if not k.startswith("sessions") else f"source.{k}": v
                       for k, v in exc.fields.items()}) from None  # fmt: skip


async def _draft_number(conn: asyncpg.Connection, plan_id: uuid.UUID) -> int:
    number = await conn.fetchval(
        "SELECT version FROM treatment_plan_versions WHERE plan_id = $1 AND status = 'draft'",
        plan_id,
    )
    if number is None:
        raise NotFound("plan version")
    return int(number)
