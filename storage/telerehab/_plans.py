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
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

import asyncpg
from piccolo.query.functions.aggregate import Max
from piccolo.query.functions.string import Lower

from storage.audit import AuditActor, record
from storage.care_team import patient_exists
from storage.orm import first, rows
from storage.tables import TreatmentPlans, TreatmentPlanVersions
from storage.telerehab import _keyset as keyset
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


_PLAN = (
    TreatmentPlans.id, TreatmentPlans.organization_id, TreatmentPlans.scope,
    TreatmentPlans.patient_id, TreatmentPlans.name, TreatmentPlans.description,
    TreatmentPlans.plan_type, TreatmentPlans.source_plan_id, TreatmentPlans.source_version,
    TreatmentPlans.created_at, TreatmentPlans.updated_at,
)  # fmt: skip
_VERSION = (
    TreatmentPlanVersions.id, TreatmentPlanVersions.plan_id,
    TreatmentPlanVersions.organization_id, TreatmentPlanVersions.version,
    TreatmentPlanVersions.status, TreatmentPlanVersions.content, TreatmentPlanVersions.snapshot,
    TreatmentPlanVersions.snapshot_digest, TreatmentPlanVersions.created_at,
    TreatmentPlanVersions.published_at,
)  # fmt: skip
_V = TreatmentPlanVersions


def _plan(row: Mapping[str, Any]) -> Plan:
    return Plan(**{**{k: row[k] for k in Plan.__slots__}, "scope": Scope(row["scope"])})


def _version(row: Mapping[str, Any]) -> PlanVersion:
    return PlanVersion(**{**dict(row), "status": VersionStatus(row["status"])})


def _audit_view(plan: Plan) -> dict[str, Any]:
    return {"name": plan.name, "scope": plan.scope.value, "plan_type": plan.plan_type}


def _live(plan_id: uuid.UUID) -> Any:
    # A new query each time: Piccolo's query methods change the query they are called on.
    return TreatmentPlans.select(*_PLAN).where(
        (TreatmentPlans.id == plan_id) & TreatmentPlans.deleted_at.is_null()
    )


async def get_plan(plan_id: uuid.UUID) -> Plan:
    row = await first(_live(plan_id).first())
    if row is None:
        raise NotFound("treatment plan")
    return _plan(row)


async def find_global_plan(name: str) -> uuid.UUID | None:
    """The oldest live global plan of that name (the demo seed's way to find its own)."""
    row = await first(
        TreatmentPlans.select(TreatmentPlans.id)
        .where(
            TreatmentPlans.organization_id.is_null()
            & (TreatmentPlans.name == name)
            & TreatmentPlans.deleted_at.is_null()
        )
        .order_by(TreatmentPlans.created_at)
        .first()
    )
    return None if row is None else cast(uuid.UUID, row["id"])


async def _writable(plan_id: uuid.UUID, org_id: uuid.UUID | None) -> Plan:
    """The plan to change, locked: global plans only on the platform path (`org_id` None)."""
    row = await first(_live(plan_id).lock_rows().first())
    if row is None:
        # Under row-level security FOR UPDATE sees only the rows the caller may update; a global
        # row it can read is refused as read-only rather than reported unknown.
        readable = await first(_live(plan_id).first())
        if readable is not None and readable["organization_id"] is None:
            raise ReadOnly("treatment plan")
        raise NotFound("treatment plan")
    if row["organization_id"] != org_id:  # the platform path sees every row; global are its own
        raise NotFound("treatment plan")
    return _plan(row)


async def list_plans(
    *,
    scope: Scope | None = None,
    patient_id: uuid.UUID | None = None,
    limit: int = 50,
    after: tuple[str, uuid.UUID] | None = None,
) -> list[tuple[Plan, tuple[str, uuid.UUID]]]:
    """Live plans ordered by (lower(name), id). Custom plans are listed only for `patient_id`
    (they are one patient's clinical content)."""
    sort = Lower(TreatmentPlans.name, alias="sort_name")
    query = TreatmentPlans.select(*_PLAN, sort).where(TreatmentPlans.deleted_at.is_null())
    if patient_id is not None:
        query = query.where(TreatmentPlans.patient_id == patient_id)
    else:
        query = query.where(TreatmentPlans.scope != Scope.CUSTOM.value)
    if scope is not None:
        query = query.where(TreatmentPlans.scope == scope.value)
    if after is not None:
        query = query.where(keyset.after(sort, TreatmentPlans.id, after))
    found = await rows(query.order_by(sort, TreatmentPlans.id).limit(limit))
    return [(_plan(r), (r["sort_name"], r["id"])) for r in found]


async def list_versions(plan_id: uuid.UUID) -> list[PlanVersion]:
    found = await rows(_V.select(*_VERSION).where(_V.plan_id == plan_id).order_by(_V.version))
    return [_version(r) for r in found]


async def get_version(plan_id: uuid.UUID, version: int | None = None) -> PlanVersion:
    """Version `version` of the plan, or (None) its latest published one."""
    query = _V.select(*_VERSION).where(_V.plan_id == plan_id)
    if version is None:
        row = await first(
            query.where(_V.status == VersionStatus.PUBLISHED.value)
            .order_by(_V.version, ascending=False)
            .first()
        )
        if row is None:
            raise NotFound("published plan version")
    else:
        row = await first(query.where(_V.version == version).first())
        if row is None:
            raise NotFound("plan version")
    return _version(row)


async def get_version_by_id(version_id: uuid.UUID) -> PlanVersion:
    row = await first(_V.select(*_VERSION).where(_V.id == version_id).first())
    if row is None:
        raise NotFound("plan version")
    return _version(row)


async def _draft(plan_id: uuid.UUID) -> PlanVersion | None:
    row = await first(
        _V.select(*_VERSION)
        .where((_V.plan_id == plan_id) & (_V.status == VersionStatus.DRAFT.value))
        .first()
    )
    return None if row is None else _version(row)


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
    transaction only). `data`: name, description?, plan_type?, scope?, patient_id?, sessions.
    `specialist_id`: the prescribing specialist of a custom plan (the patient becomes theirs).
    `conn` is the transaction's connection, for the audit row."""
    scope = Scope.GLOBAL if org_id is None else Scope(data.get("scope") or Scope.ORGANIZATION)
    patient_id = data.get("patient_id")
    if scope is Scope.GLOBAL and org_id is not None:
        raise Invalid({"scope": "global plans are created on the platform path only"})
    if scope is Scope.CUSTOM:
        if patient_id is None:
            raise Invalid({"patient_id": "is required for a custom plan"})
        patient_id = uuid.UUID(str(patient_id))
        if not await patient_exists(patient_id):
            raise Invalid({"patient_id": "unknown patient"})
    elif patient_id is not None:
        raise Invalid({"patient_id": "only a custom plan belongs to a patient"})
    content = await check_content(
        {"sessions": data.get("sessions")}, global_only=scope is Scope.GLOBAL
    )
    new = TreatmentPlans(
        organization_id=org_id,
        scope=scope.value,
        patient_id=patient_id,
        specialist_id=specialist_id if scope is Scope.CUSTOM else None,
        name=data["name"],
        description=data.get("description", ""),
        plan_type=data.get("plan_type", "telerehab"),
        source_plan_id=source[0] if source else None,
        source_version=source[1] if source else None,
        created_by=actor.user_id,
    )
    plan = _plan((await rows(TreatmentPlans.insert(new).returning(*_PLAN)))[0])
    draft = await _insert_draft(plan, 1, content, actor)
    await record(
        conn, actor=actor, organization_id=org_id, action="treatment_plan.created",
        entity="treatment_plan", entity_id=plan.id, after=_audit_view(plan),
    )  # fmt: skip
    return plan, draft


async def _insert_draft(
    plan: Plan, version: int, content: Mapping[str, Any], actor: AuditActor
) -> PlanVersion:
    new = _V(
        organization_id=plan.organization_id,
        plan_id=plan.id,
        version=version,
        status=VersionStatus.DRAFT.value,
        content=content,
        created_by=actor.user_id,
    )
    return _version((await rows(_V.insert(new).returning(*_VERSION)))[0])


async def update_plan(
    conn: asyncpg.Connection,
    plan_id: uuid.UUID,
    *,
    org_id: uuid.UUID | None,
    changes: Mapping[str, Any],
    actor: AuditActor,
) -> Plan:
    """Rename or re-describe a plan. Published snapshots keep the name they were published with."""
    before = await _writable(plan_id, org_id)
    values = {k: changes[k] for k in ("name", "description", "plan_type") if k in changes}
    if not values:
        return before
    updated = await rows(
        TreatmentPlans.update(
            {**{getattr(TreatmentPlans, k): v for k, v in values.items()},
             TreatmentPlans.updated_at: datetime.now(UTC)}
        )
        .where(TreatmentPlans.id == plan_id)
        .returning(*_PLAN)
    )  # fmt: skip
    after = _plan(updated[0])
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
    before = await _writable(plan_id, org_id)
    now = datetime.now(UTC)
    await TreatmentPlans.update(
        {TreatmentPlans.deleted_at: now, TreatmentPlans.updated_at: now}
    ).where(TreatmentPlans.id == plan_id)
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
    plan = await _writable(plan_id, org_id)
    clean = await check_content(content, global_only=plan.scope is Scope.GLOBAL)
    updated = await rows(
        _V.update({_V.content: clean, _V.updated_at: datetime.now(UTC)})
        .where((_V.plan_id == plan_id) & (_V.status == VersionStatus.DRAFT.value))
        .returning(*_VERSION)
    )
    if updated:
        draft = _version(updated[0])
    else:
        latest = await first(_V.select(Max(_V.version)).where(_V.plan_id == plan_id).first())
        number = 0 if latest is None or latest["max"] is None else int(latest["max"])
        draft = await _insert_draft(plan, number + 1, clean, actor)
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
    plan = await _writable(plan_id, org_id)
    draft = await _draft(plan_id)
    if draft is None:
        raise Conflict("the plan has no draft to publish")
    content = await check_content(draft.content, global_only=plan.scope is Scope.GLOBAL)
    snapshot, digest = await build_snapshot(
        content,
        plan={"id": plan.id, "name": plan.name, "description": plan.description,
              "plan_type": plan.plan_type, "scope": plan.scope.value},
        version=draft.version,
        language=language,
    )  # fmt: skip
    archived = next_version_status(VersionStatus.PUBLISHED, VersionAction.ARCHIVE)
    await _V.update({_V.status: archived.value}).where(
        (_V.plan_id == plan_id) & (_V.status == VersionStatus.PUBLISHED.value)
    )
    published = next_version_status(draft.status, VersionAction.PUBLISH)
    now = datetime.now(UTC)
    frozen = await rows(
        _V.update(
            {_V.status: published.value, _V.snapshot: snapshot, _V.snapshot_digest: digest,
             _V.published_at: now, _V.published_by: actor.user_id, _V.updated_at: now}
        )
        .where(_V.id == draft.id)
        .returning(*_VERSION)
    )  # fmt: skip
    await record(
        conn, actor=actor, organization_id=org_id, action="treatment_plan.published",
        entity="treatment_plan", entity_id=plan_id,
        after={"version": draft.version, "digest": digest},
    )  # fmt: skip
    return _version(frozen[0])


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
    source = await get_plan(plan_id)
    requested = data.get("version")
    if requested is not None:
        version = await get_version(plan_id, int(requested))
    else:
        try:
            version = await get_version(plan_id)
        except NotFound:
            draft = await _draft(plan_id)
            if draft is None:
                raise NotFound("plan version") from None
            version = draft
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
