"""What a rule can do. Every action implements `Action`: `run` does it once for one (rule,
event) and answers its outcome, `{"kind", "status": succeeded | skipped | failed, ...}`.

The handler calls `run` inside a tenant transaction that holds the run row locked and appends
the outcome in the same transaction, so an action that writes only to Postgres (a plan
assignment, an outbox row) happens exactly once per (rule, event). An action with an effect
outside Postgres (`call_webhook` publishes to Redis) is at least once: its payload carries the
run id, stable across retries, for receivers to dedupe.

Raising a `DomainError` is a permanent failure of the action (recorded as `failed`, its writes
rolled back); any other exception is transient: nothing is recorded and the event is retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from actors.consumers import Context
from storage import automations as store
from storage import notifications, telerehab
from storage.audit import AuditActor
from storage.automations import Rule
from storage.streams import DomainEvent
from storage.types import Channel

Outcome = dict[str, Any]
TRIGGERED = "automation.triggered"
# Who the audit log names for what a rule does (no user: the organization's own rule).
AUTOMATION_ACTOR = AuditActor(user_id=None, role="automation")
# The outbox kind of an automation's message; see send_notification below.
MESSAGE_KIND = "automation_message"


@dataclass(frozen=True, slots=True)
class ActionContext:
    services: Context
    conn: asyncpg.Connection  # the tenant transaction holding the run row
    run_id: uuid.UUID
    index: int  # the action's position in the rule
    config: Mapping[str, Any]  # the action as the rule states it
    now: datetime


class Action(Protocol):
    kind: str

    async def run(
        self, ctx: ActionContext, rule: Rule, event: DomainEvent, patient_id: uuid.UUID | None
    ) -> Outcome: ...


def succeeded(kind: str, **details: Any) -> Outcome:
    return {"kind": kind, "status": "succeeded", **details}


def skipped(kind: str, reason: str, **details: Any) -> Outcome:
    return {"kind": kind, "status": "skipped", "reason": reason, **details}


def failed(kind: str, error: str, message: str) -> Outcome:
    return {"kind": kind, "status": "failed", "error": error, "message": message[:300]}


class CallWebhook:
    """Publishes `automation.triggered` on the organization's channel: the webhook endpoints
    subscribed to that type deliver it (the webhooks consumer does the sending, retries and
    signing). Rules never trigger on it (the loop guard)."""

    kind = "call_webhook"

    async def run(
        self, ctx: ActionContext, rule: Rule, event: DomainEvent, patient_id: uuid.UUID | None
    ) -> Outcome:
        data = {
            "run_id": str(ctx.run_id),
            "rule_id": str(rule.id),
            "rule_name": rule.name,
            "event_id": event.id,
            "event_type": event.type,
            "patient_id": None if patient_id is None else str(patient_id),
            "payload": event.data,
        }
        position = await ctx.services.events.publish(
            Channel.org(event.organization_id).name, TRIGGERED, data
        )
        return succeeded(self.kind, event_type=TRIGGERED, offset=position.offset)


class AssignPlan:
    """Gives the event's patient the plan's published version (the latest, or the one named)
    from today for `duration_days` (open-ended without), through storage/telerehab's
    `assign_plan`; skipped when the patient already has an active assignment of the plan."""

    kind = "assign_plan"

    async def run(
        self, ctx: ActionContext, rule: Rule, event: DomainEvent, patient_id: uuid.UUID | None
    ) -> Outcome:
        if patient_id is None:
            return skipped(self.kind, "no_patient")
        plan_id = uuid.UUID(str(ctx.config["plan_id"]))
        active = await store.active_assignment(patient_id, plan_id)
        if active is not None:
            return skipped(self.kind, "already_assigned", assignment_id=str(active))
        starts_on = ctx.now.date()
        days = ctx.config.get("duration_days")
        data: dict[str, Any] = {
            "plan_id": plan_id,
            "frequency": ctx.config["frequency"],
            "starts_on": starts_on,
            "ends_on": None if days is None else starts_on + timedelta(days=int(days) - 1),
        }
        if ctx.config.get("plan_version") is not None:
            data["plan_version"] = ctx.config["plan_version"]
        created = await telerehab.assign_plan(
            ctx.conn,
            org_id=event.organization_id,
            patient_id=patient_id,
            data=data,
            actor=AUTOMATION_ACTOR,
        )
        return succeeded(
            self.kind, assignment_id=str(created.id), plan_version=created.plan_version
        )


class SendNotification:
    """Queues a message to the patient in the notification outbox (kind `automation_message`),
    in the run's transaction and deduplicated per (rule, event): exactly once. The dispatcher
    (actors/notifications) words it with the clinic's template `automation_message:<template>`,
    else the built-in generic text, and applies the patient's preferences and quiet hours."""

    kind = "send_notification"

    async def run(
        self, ctx: ActionContext, rule: Rule, event: DomainEvent, patient_id: uuid.UUID | None
    ) -> Outcome:
        if patient_id is None:
            return skipped(self.kind, "no_patient")
        queued = await notifications.enqueue(
            ctx.conn,
            organization_id=event.organization_id,
            kind=MESSAGE_KIND,
            patient_id=patient_id,
            dedupe_key=f"{rule.id}:{event.id}",
            data={
                "template": ctx.config["template"],
                "rule_id": str(rule.id),
                "event_id": event.id,
                "event_type": event.type,
            },
        )
        return succeeded(self.kind, queued=queued)


def default_actions() -> dict[str, Action]:
    return {a.kind: a for a in (CallWebhook(), AssignPlan(), SendNotification())}
