"""Who read a patient's clinical records: the audit's `read` rows about the patient
(written by `storage.audit.record_read` in the reading request's own transaction)."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.orm import rows
from storage.tables import AuditLog
from storage.telerehab import _keyset as keyset


@dataclass(frozen=True, slots=True)
class ClinicalRead:
    id: uuid.UUID
    actor_user_id: uuid.UUID | None
    actor_role: str | None
    record: str  # the kind of record, e.g. `plan_assignments`
    record_id: str | None
    request_id: str | None
    ip: str | None
    at: datetime


def _host(ip: Any) -> str | None:
    """The address of an `inet` value without its prefix length (what SQL `host()` gives)."""
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(ip.ip)
    return str(ip)


async def clinical_reads(
    patient_id: uuid.UUID, *, limit: int, after: tuple[datetime, uuid.UUID] | None = None
) -> list[ClinicalRead]:
    """The reads of the patient's records, newest first; page with the last one's (at, id)."""
    query = AuditLog.select(
        AuditLog.id, AuditLog.actor_user_id, AuditLog.actor_role, AuditLog.entity,
        AuditLog.entity_id, AuditLog.request_id, AuditLog.ip, AuditLog.created_at,
    ).where((AuditLog.patient_id == patient_id) & (AuditLog.action == "read"))  # fmt: skip
    if after is not None:
        query = query.where(keyset.before(AuditLog.created_at, AuditLog.id, after))
    found = await rows(
        query.order_by(AuditLog.created_at, AuditLog.id, ascending=False).limit(limit)
    )
    return [
        ClinicalRead(
            id=r["id"], actor_user_id=r["actor_user_id"], actor_role=r["actor_role"],
            record=r["entity"], record_id=r["entity_id"], request_id=r["request_id"],
            ip=_host(r["ip"]), at=r["created_at"],
        )
        for r in found
    ]  # fmt: skip
