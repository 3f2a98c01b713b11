"""Rules end to end with the automations consumer called directly: a no-show rule with a segment
condition assigns a plan and publishes `automation.triggered`, with its run recorded; the same
event twice runs once; automation events never trigger rules; a crash mid-run is completed by
the retry without doing an action twice; a rule's message goes out once through the notification
outbox, in the clinic's wording; bad rules are refused; other organizations get 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from actors.automations import (
    Action,
    ActionContext,
    AutomationHandler,
    CallWebhook,
    Outcome,
    RunInProgress,
    default_actions,
)
from actors.consumers import Context, Runner, RunnerOptions
from actors.notifications import NotificationOptions, OutboxPump
from server.resources import DB_KEY
from storage import automations as store
from storage.automations import Rule
from storage.events import StreamPosition
from storage.streams import DomainEvent, parse_entry
from storage.types import Channel
from tests.integration.automations.conftest import Client, Clinic
from tests.support.consumers import ManualClock, context_of, until

NO_ACTIVE_PLAN = {"all": [{"field": "has_active_plan", "op": "=", "value": False}]}


def _ctx(client: Client) -> tuple[Context, ManualClock]:
    clock = ManualClock(datetime.now(UTC))
    return context_of(client.app, clock), clock


async def _event(
    ctx: Context, org_id: uuid.UUID, event_type: str, data: dict[str, Any]
) -> DomainEvent:
    """Publish on the organization's channel, as the calendar shard does, and read it as the
    consumer would see it."""
    position = await ctx.events.publish(Channel.org(org_id).name, event_type, data)
    return DomainEvent(
        id=f"evt_{position.epoch}_{position.offset}",
        organization_id=org_id,
        type=event_type,
        data=data,
        position=position,
        at=datetime.now(UTC),
    )


def _no_show(clinic: Clinic, patient_id: uuid.UUID) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(hours=2)
    return {
        "appointment_id": str(uuid.uuid4()),
        "calendar_id": str(clinic.calendar_id),
        "specialist_id": str(clinic.specialist_id),
        "patient_id": str(patient_id),
        "status": "no_show",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
    }


async def _published(ctx: Context, org_id: uuid.UUID, since: StreamPosition) -> list[DomainEvent]:
    """The `automation.triggered` events of the organization's stream since `since`, parsed
    as the consumers parse stream entries."""
    replay = await ctx.events.replay(Channel.org(org_id).name, since)
    events = [parse_entry({b"f": frame}) for _, frame in replay.frames]
    return [e for e in events if e.type == "automation.triggered"]


async def _triggered(ctx: Context, org_id: uuid.UUID, since: StreamPosition) -> list[Any]:
    return [e.data for e in await _published(ctx, org_id, since)]


async def _segment(client: Client, clinic: Clinic, definition: dict[str, Any]) -> str:
    resp = await client.post(
        "/v1/segments",
        json={"name": f"s-{uuid.uuid4().hex[:8]}", "definition": definition},
        headers=clinic.admin,
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _rule(client: Client, clinic: Clinic, **body: Any) -> dict[str, Any]:
    resp = await client.post("/v1/automations/rules", json=body, headers=clinic.admin)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def _runs(client: Client, clinic: Clinic, rule_id: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/v1/automations/rules/{rule_id}/runs", headers=clinic.admin)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["data"])


async def _assignments(clinic: Clinic, patient_id: uuid.UUID) -> int:
    async with clinic.db.platform() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM plan_assignments WHERE patient_id = $1", patient_id
        )
    return count


async def _no_show_rule(client: Client, clinic: Clinic) -> tuple[dict[str, Any], str]:
    plan = await clinic.published_plan(client)
    segment = await _segment(client, clinic, NO_ACTIVE_PLAN)
    rule = await _rule(
        client, clinic, name="No-show: home plan", trigger="appointment.no_show",
        conditions=[{"field": "status", "equals": "no_show"}, {"patient_in_segment": segment}],
        actions=[
            {"kind": "assign_plan", "plan_id": plan["id"], "frequency": {"per_week": 3},
             "duration_days": 28},
            {"kind": "call_webhook"},
        ],
    )  # fmt: skip
    return rule, plan["id"]


async def test_no_show_rule_assigns_a_plan_and_calls_the_webhook_once(
    client: Client, clinic: Clinic
) -> None:
    ctx, clock = _ctx(client)
    handler = AutomationHandler(ctx)
    rule, _ = await _no_show_rule(client, clinic)
    patient = await clinic.patient()
    since = await ctx.events.position(Channel.org(clinic.org_id).name)
    event = await _event(ctx, clinic.org_id, "appointment.no_show", _no_show(clinic, patient))

    noise = await _event(ctx, clinic.org_id, "appointment.booked", _no_show(clinic, patient))
    await handler.handle_many([noise, event])  # a read batch: only the no-show has a rule
    await handler.handle(event)  # redelivered: finds its finished run

    assert await _assignments(clinic, patient) == 1
    sent = await _triggered(ctx, clinic.org_id, since)
    assert len(sent) == 1
    assert sent[0]["rule_id"] == rule["id"] and sent[0]["rule_name"] == "No-show: home plan"
    assert sent[0]["event_id"] == event.id and sent[0]["event_type"] == "appointment.no_show"
    assert sent[0]["patient_id"] == str(patient)
    assert sent[0]["payload"]["appointment_id"] == event.data["appointment_id"]
    (run,) = await _runs(client, clinic, rule["id"])
    assert run["status"] == "succeeded" and run["event_id"] == event.id
    assert [a["kind"] for a in run["actions"]] == ["assign_plan", "call_webhook"]
    assert all(a["status"] == "succeeded" for a in run["actions"])
    assert run["attempts"] == 1 and run["finished_at"] is not None

    # The patient now has an active plan: out of the segment, so a second no-show is skipped
    # (recorded, with the reason), and nothing more is done.
    clock.advance(timedelta(seconds=1))  # runs are listed by their start
    second = await _event(ctx, clinic.org_id, "appointment.no_show", _no_show(clinic, patient))
    await handler.handle(second)
    runs = await _runs(client, clinic, rule["id"])
    assert [r["status"] for r in runs] == ["succeeded", "skipped"]
    assert "segment" in runs[1]["reason"] and runs[1]["actions"] == []
    assert await _assignments(clinic, patient) == 1
    assert len(await _triggered(ctx, clinic.org_id, since)) == 1

    # An event of another type, or whose data does not match, runs nothing.
    other = await clinic.patient()
    clock.advance(timedelta(seconds=1))
    await handler.handle(
        await _event(ctx, clinic.org_id, "appointment.cancelled", _no_show(clinic, other))
    )
    data = {**_no_show(clinic, other), "status": "booked"}
    await handler.handle(await _event(ctx, clinic.org_id, "appointment.no_show", data))
    runs = await _runs(client, clinic, rule["id"])
    assert len(runs) == 3 and runs[2]["status"] == "skipped" and "status" in runs[2]["reason"]
    assert await _assignments(clinic, other) == 0


async def test_automation_events_never_trigger_rules(client: Client, clinic: Clinic) -> None:
    ctx, _ = _ctx(client)
    handler = AutomationHandler(ctx)
    resp = await client.post(
        "/v1/automations/rules",
        json={"name": "loop", "trigger": "automation.triggered",
              "actions": [{"kind": "call_webhook"}]},
        headers=clinic.admin,
    )  # fmt: skip
    assert resp.status == 422
    assert "trigger" in (await resp.json())["error"]["details"]["fields"]

    # A rule that publishes on every no-show: what it publishes is not evaluated again.
    rule = await _rule(
        client, clinic, name="echo", trigger="appointment.no_show",
        actions=[{"kind": "call_webhook"}],
    )  # fmt: skip
    since = await ctx.events.position(Channel.org(clinic.org_id).name)
    patient = await clinic.patient()
    await handler.handle(
        await _event(ctx, clinic.org_id, "appointment.no_show", _no_show(clinic, patient))
    )
    (published,) = await _published(ctx, clinic.org_id, since)
    await handler.handle(published)
    assert len(await _runs(client, clinic, rule["id"])) == 1
    assert len(await _triggered(ctx, clinic.org_id, since)) == 1


class FailsOnce:
    """Wraps an action; its first call raises as a crash would (a lost connection)."""

    def __init__(self, inner: Action) -> None:
        self.kind = inner.kind
        self.inner = inner
        self.calls = 0

    async def run(
        self, ctx: ActionContext, rule: Rule, event: DomainEvent, patient_id: uuid.UUID | None
    ) -> Outcome:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionResetError("the connection was lost")
        return await self.inner.run(ctx, rule, event, patient_id)


async def test_a_crash_mid_run_is_completed_by_the_retry(client: Client, clinic: Clinic) -> None:
    ctx, clock = _ctx(client)
    flaky = FailsOnce(CallWebhook())
    handler = AutomationHandler(ctx, {**default_actions(), "call_webhook": flaky})
    rule, _ = await _no_show_rule(client, clinic)
    patient = await clinic.patient()
    since = await ctx.events.position(Channel.org(clinic.org_id).name)
    event = await _event(ctx, clinic.org_id, "appointment.no_show", _no_show(clinic, patient))

    # First delivery: the plan is assigned (and recorded with it), then the webhook action
    # crashes: the event is not acknowledged and the run stays `running`.
    try:
        await handler.handle(event)
    except ConnectionResetError:
        pass
    else:
        raise AssertionError("the crash must reach the runner, so the event comes again")
    (run,) = await _runs(client, clinic, rule["id"])
    assert run["status"] == "running" and [a["kind"] for a in run["actions"]] == ["assign_plan"]
    assert "ConnectionResetError" in run["error"]

    # The admin edits and disables the rule meanwhile: the run began with the rule as it was,
    # and the retry finishes exactly that, continuing at the webhook; no second plan.
    resp = await client.patch(
        f"/v1/automations/rules/{rule['id']}",
        json={"enabled": False, "actions": [{"kind": "call_webhook"}, {"kind": "call_webhook"}]},
        headers=clinic.admin,
    )
    assert resp.status == 200
    await handler.handle(event)
    (run,) = await _runs(client, clinic, rule["id"])
    assert run["status"] == "succeeded" and run["attempts"] == 2
    assert [a["status"] for a in run["actions"]] == ["succeeded", "succeeded"]
    assert await _assignments(clinic, patient) == 1
    assert len(await _triggered(ctx, clinic.org_id, since)) == 1

    # A worker that died without a word (its lease still live) holds the run: the event is
    # retried, not skipped, and the run is taken over once the lease has passed.
    resp = await client.patch(
        f"/v1/automations/rules/{rule['id']}", json={"enabled": True}, headers=clinic.admin
    )
    rule = await resp.json()
    other = await clinic.patient()
    event = await _event(ctx, clinic.org_id, "appointment.no_show", _no_show(clinic, other))
    async with client.app[DB_KEY].tenant(clinic.org_id) as conn:
        await store.claim_run(
            conn, org_id=clinic.org_id, rule_id=uuid.UUID(rule["id"]), event_id=event.id,
            event_type=event.type, patient_id=other, rule_actions=rule["actions"],
            now=clock.now(), lease=timedelta(minutes=2),
        )  # fmt: skip
    try:
        await handler.handle(event)
    except RunInProgress:
        pass
    else:
        raise AssertionError("a held run must make the event come again")
    clock.advance(timedelta(minutes=3))
    await handler.handle(event)
    # The list's order between runs begun at the same instant is not the point: pick by event.
    (run,) = [r for r in await _runs(client, clinic, rule["id"]) if r["event_id"] == event.id]
    assert run["status"] == "succeeded" and run["attempts"] == 2
    assert [a["kind"] for a in run["actions"]] == ["call_webhook", "call_webhook"]
    assert await _assignments(clinic, other) == 0


async def _automation_messages(clinic: Clinic, patient_id: uuid.UUID) -> list[dict[str, Any]]:
    async with clinic.db.platform() as conn:
        found = await conn.fetch(
            """SELECT id, kind, status, delivered, data FROM notification_outbox
               WHERE patient_id = $1 AND kind = 'automation_message'""",
            patient_id,
        )
    return [dict(r) for r in found]


async def _notifications(
    ctx: Context, patient_id: uuid.UUID, since: StreamPosition
) -> list[dict[str, Any]]:
    """The in-app notifications published on the patient's channel since `since`."""
    replay = await ctx.events.replay(Channel.patient(patient_id).name, since)
    frames = [orjson.loads(f) for _, f in replay.frames]
    return [f["data"] for f in frames if f["type"] == "notification"]


async def test_send_notification_queues_one_message_worded_by_the_clinic(
    client: Client, clinic: Clinic
) -> None:
    """A cancellation rule queues one automation message per event (the event twice: one
    row); the dispatcher sends it in the clinic's named template, and a template name the
    clinic never wrote in the built-in wording."""
    ctx, clock = _ctx(client)
    handler = AutomationHandler(ctx)
    resp = await client.put(
        "/v1/notifications/templates/automation_message:we_miss_you/in_app/en",
        json={"subject": "We miss you at {clinic}", "body": "{patient_name}, come back soon"},
        headers=clinic.admin,
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["placeholders"] == ["clinic", "patient_name"]
    templates = "/v1/notifications/templates/automation_message"
    resp = await client.get(f"{templates}:never_written/sms/ro", headers=clinic.admin)
    assert resp.status == 200 and (await resp.json())["source"] == "builtin"
    for bad, body in ((":Bad-Name", "{clinic}"), (":fine", "{clinic} {date}")):
        url = f"{templates}{bad}/sms/en"
        resp = await client.put(url, json={"body": body}, headers=clinic.admin)
        assert resp.status == 422, await resp.text()
    rule = await _rule(
        client, clinic, name="notify", trigger="appointment.cancelled",
        actions=[{"kind": "send_notification", "template": "we_miss_you"}],
    )  # fmt: skip
    await _rule(
        client, clinic, name="generic", trigger="appointment.no_show",
        actions=[{"kind": "send_notification", "template": "never_written"}],
    )  # fmt: skip
    named = await clinic.patient("Popescu", first_name="Ana")
    generic = await clinic.patient("Ionescu", first_name="Dan")
    since = {p: await ctx.events.position(Channel.patient(p).name) for p in (named, generic)}
    cancelled = await _event(
        ctx, clinic.org_id, "appointment.cancelled",
        {**_no_show(clinic, named), "status": "cancelled"},
    )  # fmt: skip
    await handler.handle(cancelled)
    await handler.handle(cancelled)  # redelivered: finds its finished run
    await handler.handle(
        await _event(ctx, clinic.org_id, "appointment.no_show", _no_show(clinic, generic))
    )

    (run,) = await _runs(client, clinic, rule["id"])
    assert run["status"] == "succeeded"
    assert run["actions"] == [{"kind": "send_notification", "status": "succeeded", "queued": True}]
    (row,) = await _automation_messages(clinic, named)
    assert row["status"] == "pending"
    assert row["data"]["template"] == "we_miss_you" and row["data"]["event_id"] == cancelled.id
    assert len(await _automation_messages(clinic, generic)) == 1

    clock.advance(timedelta(minutes=1))  # the rows are due at the database's now
    pump = OutboxPump(ctx, NotificationOptions())  # no e-mail or SMS: in-app only
    while await pump.run_once():
        pass
    (row,) = await _automation_messages(clinic, named)
    assert row["status"] == "sent" and row["delivered"] == ["in_app"]
    async with clinic.db.platform() as conn:
        clinic_name = await conn.fetchval(
            "SELECT name FROM organizations WHERE id = $1", clinic.org_id
        )
    (note,) = await _notifications(ctx, named, since[named])
    assert note["id"] == str(row["id"]) and note["kind"] == "automation_message"
    assert note["title"] == f"We miss you at {clinic_name}"
    assert note["body"] == "Ana Popescu, come back soon"
    (note,) = await _notifications(ctx, generic, since[generic])
    assert note["title"] == f"A message from {clinic_name}"
    assert note["body"].startswith(f"{clinic_name}: we would be glad to hear from you")


async def test_bad_rules_are_refused_with_details(
    client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    plan = await clinic.published_plan(client)
    foreign_segment = await _segment(client, other_clinic, NO_ACTIVE_PLAN)
    good = {"name": "r", "trigger": "appointment.no_show", "actions": [{"kind": "call_webhook"}]}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({**good, "actions": [{"kind": "request_form", "form_id": str(uuid.uuid4())}]},
         "action_unavailable", "actions.0.kind"),
        ({**good, "actions": [{"kind": "call_webhook"}, {"kind": "add_to_waitlist"}]},
         "action_unavailable", "actions.1.kind"),
        ({**good, "actions": []}, "validation_failed", "actions"),
        ({**good, "actions": [{"kind": "teleport"}]}, "validation_failed", "actions.0.kind"),
        ({**good, "actions": [{"kind": "assign_plan", "plan_id": plan["id"]}]},
         "validation_failed", "actions.0.frequency"),
        ({**good, "actions": [{"kind": "assign_plan", "plan_id": str(uuid.uuid4()),
                               "frequency": {"per_week": 2}}]},
         "validation_failed", "actions.0.plan_id"),
        ({**good, "trigger": "no dots"}, "validation_failed", "trigger"),
        ({**good, "conditions": [{"patient_in_segment": foreign_segment}]},
         "validation_failed", "conditions.0"),
        ({**good, "conditions": [{"field": "status"}]}, "validation_failed", "conditions.0"),
    ]  # fmt: skip
    for body, code, field in cases:
        resp = await client.post("/v1/automations/rules", json=body, headers=clinic.admin)
        assert resp.status == 422, (body, await resp.text())
        error = (await resp.json())["error"]
        assert error["code"] == code, (body, error)
        assert field in error["details"]["fields"], (body, error)

    # A segment a rule uses cannot be deleted; another organization reaches nothing.
    segment = await _segment(client, clinic, NO_ACTIVE_PLAN)
    rule = await _rule(client, clinic, **{**good, "conditions": [{"patient_in_segment": segment}]})
    resp = await client.delete(f"/v1/segments/{segment}", headers=clinic.admin)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "segment_in_use"
    resp = await client.patch(
        f"/v1/automations/rules/{rule['id']}",
        json={"actions": [{"kind": "add_to_waitlist"}]},
        headers=clinic.admin,
    )
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "action_unavailable"
    resp = await client.patch(
        f"/v1/automations/rules/{rule['id']}", json={"enabled": False}, headers=clinic.admin
    )
    assert resp.status == 200 and (await resp.json())["enabled"] is False
    for method, path in (
        ("GET", f"/v1/automations/rules/{rule['id']}"),
        ("PATCH", f"/v1/automations/rules/{rule['id']}"),
        ("DELETE", f"/v1/automations/rules/{rule['id']}"),
        ("GET", f"/v1/automations/rules/{rule['id']}/runs"),
    ):
        resp = await client.request(
            method, path, json={"enabled": True} if method == "PATCH" else None,
            headers=other_clinic.admin,
        )  # fmt: skip
        assert resp.status == 404, (method, path)
    assert (await client.get("/v1/automations/rules", headers=clinic.specialist)).status == 403
    listed = await (await client.get("/v1/automations/rules", headers=other_clinic.admin)).json()
    assert listed["data"] == []

    resp = await client.delete(f"/v1/automations/rules/{rule['id']}", headers=clinic.admin)
    assert resp.status == 204
    assert (await client.get(f"/v1/automations/rules/{rule['id']}/runs",
                             headers=clinic.admin)).status == 200  # fmt: skip
    assert (await client.delete(f"/v1/segments/{segment}", headers=clinic.admin)).status == 204


async def test_the_runner_drives_the_rule_through_a_crash(client: Client, clinic: Clinic) -> None:
    """End to end with the consumer runner: the event published on the organization channel is
    read by the `automations` group; the first delivery crashes in the webhook action, the
    runner delivers it again, and the run completes with each action done once."""
    ctx, _ = _ctx(client)
    flaky = FailsOnce(CallWebhook())
    handler = AutomationHandler(ctx, {**default_actions(), "call_webhook": flaky})
    rule, _ = await _no_show_rule(client, clinic)
    patient = await clinic.patient()
    since = await ctx.events.position(Channel.org(clinic.org_id).name)
    options = RunnerOptions(
        batch=20, block_ms=100, retry_idle_s=0.3, claim_every_s=0.1, max_attempts=5,
        only=frozenset({clinic.org_id}),
    )  # fmt: skip
    runner = Runner(ctx, [handler], [], consumer="automations-test", options=options)
    runner.start()
    try:
        await _event(ctx, clinic.org_id, "appointment.no_show", _no_show(clinic, patient))

        async def finished() -> bool:
            runs = await _runs(client, clinic, rule["id"])
            return bool(runs) and runs[0]["status"] != "running"

        await until(finished)
    finally:
        await runner.stop()
    (run,) = await _runs(client, clinic, rule["id"])
    assert run["status"] == "succeeded" and flaky.calls == 2
    assert await _assignments(clinic, patient) == 1
    assert len(await _triggered(ctx, clinic.org_id, since)) == 1
