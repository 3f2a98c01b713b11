"""What a pose worker writes to Postgres: the completion record of an ended session (the
progress records of the telerehab content, idempotent per session id) and clinical telemetry
(`rep.metrics` per rep, `session.timing` per phase), shaped by pipelines.telemetry and stored
with storage.telemetry.write (deduplicated by event id, rolled up daily).

Telemetry is written here, batched across the worker's sessions about once a second, rather
than sent back to the server: events raised by the worker's own timers (a rest ending, a pause
expiring) have no server request to ride on.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from actors.pose.messages import SessionMeta
from pipelines.session import GuideEvent, SessionGuide
from pipelines.telemetry import validate_batch
from storage.audit import AuditActor
from storage.db import TenantPool
from storage.telemetry import Record, write
from storage.telerehab import ExerciseSummary, SessionRecord, record_completion

_TIMING_PHASE = {
    "session.started": "started",
    "set.completed": "exercise",
    "rest.started": "rest",
    "session.paused": "paused",
    "session.resumed": "resumed",
    "session.completed": "completed",
    "session.abandoned": "abandoned",
}


def _instant(ms: float | None) -> datetime:
    return datetime.fromtimestamp((ms or 0) / 1000, UTC)


def session_record(meta: SessionMeta, guide: SessionGuide) -> SessionRecord:
    summary = guide.summary()
    started = _instant(guide.started_ms)
    return SessionRecord(
        assignment_id=meta.assignment_id,
        session_index=meta.session_index,
        started_at=started,
        completed_at=max(started, _instant(guide.ended_ms)),
        status=guide.outcome,
        telerehab_session_id=meta.session_id,
        exercises=[
            ExerciseSummary(
                position=s["position"],
                exercise_id=uuid.UUID(s["exercise_id"]),
                sets_done=s["sets_done"],
                reps_done=s["reps_done"],
                duration_s=s["duration_s"],
                rom_min_deg=s["rom_min_deg"],
                rom_max_deg=s["rom_max_deg"],
                rom_mean_deg=s["rom_mean_deg"],
                tempo_mean_ms=s["tempo_mean_ms"],
                cues=s["cues"],
            )
            for s in summary
        ],
    )


async def store_completion(pool: TenantPool, meta: SessionMeta, guide: SessionGuide) -> str:
    """The completion's id; a retry after a crash returns the first record."""
    actor = AuditActor(meta.started_by, meta.started_role)
    async with pool.tenant(meta.org_id) as conn:
        done = await record_completion(
            conn, session_record(meta, guide), org_id=meta.org_id, actor=actor
        )
    return str(done.id)


def telemetry_events(
    meta: SessionMeta, guide: SessionGuide, events: Sequence[GuideEvent], now_ms: float
) -> list[dict[str, Any]]:
    """The clinical telemetry of some session events, as PROTOCOL.md telemetry events."""
    out: list[dict[str, Any]] = []
    sid = str(meta.session_id)
    for ev in events:
        data = ev.data
        if ev.type == "rep.counted":
            key = f"rep:{data['exercise_id']}:{data['set']}:{data['rep']}"
            metrics = {
                "exercise_id": data["exercise_id"],
                "set": data["set"],
                "rep": data["rep"],
                "rom_deg": min(360.0, max(0.0, data["rom_deg"] or 0.0)),
                "duration_ms": min(600_000, max(0, data["duration_ms"] or 0)),
            }
            rep_id = uuid.uuid5(meta.session_id, key)  # a resend stores once
            out.append(_event(rep_id, "rep.metrics", now_ms, sid, metrics))
        elif ev.type in _TIMING_PHASE:
            timing = {"phase": _TIMING_PHASE[ev.type], "ms": _phase_ms(ev, guide, now_ms)}
            out.append(_event(uuid.uuid4(), "session.timing", now_ms, sid, timing))
    return out


def _event(
    event_id: uuid.UUID, kind: str, now_ms: float, session_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {"id": str(event_id), "type": kind, "t": int(now_ms), "session_id": session_id,
            "data": data}  # fmt: skip


def _phase_ms(ev: GuideEvent, guide: SessionGuide, now_ms: float) -> int:
    if ev.type == "set.completed":
        ms = ev.data.get("duration_ms", 0)
    elif ev.type == "rest.started":
        ms = ev.data["seconds"] * 1000
    elif ev.type == "session.resumed":
        ms = ev.data.get("paused_ms", 0)
    elif ev.type in ("session.completed", "session.abandoned"):
        ms = now_ms - (guide.started_ms or now_ms)
    else:
        ms = 0
    return int(min(86_400_000, max(0, ms)))


async def store_telemetry(
    pool: TenantPool, batch: Sequence[tuple[SessionMeta, Mapping[str, Any]]]
) -> int:
    """Write buffered events, one transaction per organization; returns rows now stored."""
    now = datetime.now(UTC)
    by_org: dict[uuid.UUID, list[Record]] = defaultdict(list)
    for meta, event in batch:
        rows, _ = validate_batch([event], now)
        for r in rows:
            by_org[meta.org_id].append(
                (meta.org_id, meta.patient_id, r.session_id, r.exercise_id, r.event_id,
                 r.type.value, r.t, now, r.data)
            )  # fmt: skip
    stored = 0
    for org_id, records in by_org.items():
        async with pool.tenant(org_id) as conn:
            await write(conn, org_id, records)
            stored += len(records)
    return stored
