"""The automations consumer: each organization event runs the organization's enabled rules
whose trigger is its type, each (rule, event) at most once to completion.

Per rule: (1) in one tenant transaction, record the run (or take over one whose lease has
passed, or stop: finished before / another worker's live lease) and evaluate the conditions; a
rule whose conditions do not hold finishes there as `skipped`. (2) Each action not done yet runs
in its own tenant transaction with the run row locked, and its outcome is appended in that same
transaction. (3) The run finishes `succeeded` or `failed` (one action failed).

A crash anywhere leaves a `running` row and the event unacknowledged; its redelivery takes the
run over (at once when the handler saw the exception and gave the lease back, after the lease
when the process died) and continues at the first action without an outcome. A transient error
is retried up to `MAX_ATTEMPTS` takeovers; then the action is recorded as failed, so a run ends.

Loop guard: `automation.*` events (what `call_webhook` publishes) are never evaluated.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from actors.automations import _metrics as metrics
from actors.automations._actions import Action, ActionContext, default_actions, failed
from actors.consumers import Context
from storage import automations as store
from storage.automations import ClaimState, Rule, Run, RunStatus
from storage.errors import DomainError, NotFound
from storage.streams import DomainEvent

log = logging.getLogger("cadence.automations")
# Far longer than a run takes (its actions only write Postgres and publish to Redis: webhooks
# are sent by their own consumer), and short enough that a dead worker's run is taken over
# well within the runner's redeliveries (retry_idle_s 15 s x max_attempts 8).
LEASE = timedelta(seconds=60)
# Takeovers of one run before a transiently failing action is recorded as failed: fewer than
# the runner's deliveries, so the run ends before its event would become a dead letter.
MAX_ATTEMPTS = 5


class RunInProgress(RuntimeError):
    """Another worker holds this run's live lease: the event is retried later (the runner keeps
    it pending), by when that worker finished it or its lease has passed."""


def patient_of(event: DomainEvent) -> uuid.UUID | None:
    raw = event.data.get("patient_id")
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def event_matches(condition: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """`{"field", "equals"}`: the event's data holds exactly that value (a missing key is not
    null; a boolean is not a number; "1" is not 1)."""
    field = condition["field"]
    if field not in data:
        return False
    value, wanted = data[field], condition["equals"]
    if isinstance(value, bool) or isinstance(wanted, bool):
        return type(value) is type(wanted) and value == wanted
    return bool(value == wanted)


class AutomationHandler:
    group = "automations"

    def __init__(self, ctx: Context, actions: Mapping[str, Action] | None = None) -> None:
        self._ctx = ctx
        self._actions = dict(actions if actions is not None else default_actions())

    async def handle_many(self, events: Sequence[DomainEvent]) -> None:
        """A read batch: per organization, one question (which event types have rules, which
        of these events have runs to finish); only the events that have either go on to
        `handle`. Most events of a clinic trigger nothing, and cost no more than that."""
        by_org: dict[uuid.UUID, list[DomainEvent]] = {}
        for event in events:
            if event.type.startswith(store.LOOP_PREFIX):
                metrics.EVENTS.labels("loop_guard").inc()
            else:
                by_org.setdefault(event.organization_id, []).append(event)
        for org_id, batch in by_org.items():
            async with self._ctx.db.tenant(org_id) as conn:
                triggers = await store.live_triggers()
                unfinished = await store.events_with_unfinished_runs(conn, [e.id for e in batch])
            for event in batch:
                if event.type in triggers or event.id in unfinished:
                    await self.handle(event)
                else:
                    metrics.EVENTS.labels("no_rule").inc()

    async def handle(self, event: DomainEvent) -> None:
        if event.type.startswith(store.LOOP_PREFIX):
            metrics.EVENTS.labels("loop_guard").inc()
            return
        async with self._ctx.db.tenant(event.organization_id) as conn:
            rules = await store.rules_for(event.type)
            # Runs this event began are finished, even for a rule disabled or deleted since.
            known = {r.id for r in rules}
            begun = [i for i in await store.unfinished_rule_ids(conn, event.id) if i not in known]
            rules += await store.rules_by_id(begun)
        if not rules:
            metrics.EVENTS.labels("no_rule").inc()
            return
        metrics.EVENTS.labels("evaluated").inc()
        # Every rule gets its turn even when one fails; the first failure then makes the event
        # come again, and the rules already done find their finished runs.
        first_error: BaseException | None = None
        for rule in rules:
            try:
                await self._run_rule(rule, event)
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    async def _run_rule(self, rule: Rule, event: DomainEvent) -> None:
        patient_id = patient_of(event)
        now = self._ctx.clock.now()
        async with self._ctx.db.tenant(event.organization_id) as conn:
            claim = await store.claim_run(
                conn, org_id=event.organization_id, rule_id=rule.id, event_id=event.id,
                event_type=event.type, patient_id=patient_id, rule_actions=rule.actions,
                now=now, lease=LEASE,
            )  # fmt: skip
            if claim.state is ClaimState.DONE:
                return
            if claim.state is ClaimState.HELD:
                metrics.RUNS.labels("held").inc()
                raise RunInProgress(f"run {claim.run.id} is held by another worker")
            run = claim.run
            # Conditions are judged before the first action only: a retry continues what was
            # begun, even if an action's own effect (a new plan) changed a segment since.
            if not run.actions:
                reason = await self._unmet(conn, rule, run, event, patient_id)
                if reason is not None:
                    await store.finish_run(conn, run.id, RunStatus.SKIPPED, now=now, reason=reason)
                    metrics.RUNS.labels("skipped").inc()
                    return
        for index in range(len(run.actions), len(run.rule_actions)):
            await self._act(rule, event, patient_id, run, index)
        async with self._ctx.db.tenant(event.organization_id) as conn:
            done = await store.lock_run(conn, run.id)
            if done.status.final:
                return
            status = store.outcome_of(done.actions)
            await store.finish_run(conn, run.id, status, now=self._ctx.clock.now())
        metrics.RUNS.labels(status.value).inc()

    async def _unmet(
        self,
        conn: asyncpg.Connection,
        rule: Rule,
        run: Run,
        event: DomainEvent,
        patient_id: uuid.UUID | None,
    ) -> str | None:
        """Why the rule does not apply to this event, or None when it does."""
        needs_patient = any("field" not in c for c in rule.conditions) or any(
            a["kind"] != "call_webhook" for a in run.rule_actions
        )
        if needs_patient and patient_id is None:
            return "no_patient"
        if patient_id is not None and needs_patient and not await store.patient_is_live(patient_id):
            return "patient_unavailable"
        for i, c in enumerate(rule.conditions):
            if "field" in c:
                if not event_matches(c, event.data):
                    return f"condition {i}: event {c['field']} does not match"
                continue
            assert patient_id is not None
            wanted = "patient_in_segment" in c
            segment_id = uuid.UUID(
                c["patient_in_segment"] if wanted else c["patient_not_in_segment"]
            )
            try:
                segment = await store.get_segment(segment_id)
            except NotFound:
                return f"condition {i}: segment deleted"
            inside = await store.is_member(
                conn, segment.definition, patient_id, now=self._ctx.clock.now()
            )
            if inside is not wanted:
                return f"condition {i}: patient {'not ' if wanted else ''}in segment"
        return None

    async def _act(
        self, rule: Rule, event: DomainEvent, patient_id: uuid.UUID | None, run: Run, index: int
    ) -> None:
        config = run.rule_actions[index]
        kind = str(config["kind"])
        action = self._actions.get(kind)
        org = event.organization_id
        try:
            async with self._ctx.db.tenant(org) as conn:
                current = await store.lock_run(conn, run.id)
                if current.status.final or len(current.actions) > index:
                    return  # done by another worker that took the run over meanwhile
                now = self._ctx.clock.now()
                if action is None:
                    outcome = failed(kind, "action_unavailable", f"{kind} is not available")
                else:
                    actx = ActionContext(self._ctx, conn, run.id, index, config, now)
                    try:
                        # A savepoint: a refused action leaves no write behind, its outcome stays.
                        async with conn.transaction():
                            outcome = await action.run(actx, rule, event, patient_id)
                    except DomainError as exc:
                        outcome = failed(kind, exc.code, exc.message)
                await store.record_action(conn, run.id, index, outcome)
        except Exception as exc:
            await self._transient(rule, event, run, index, kind, exc)
            return
        metrics.ACTIONS.labels(kind, str(outcome.get("status"))).inc()

    async def _transient(
        self, rule: Rule, event: DomainEvent, run: Run, index: int, kind: str, exc: Exception
    ) -> None:
        """Nothing of the action was committed. Give the lease back and let the event come
        again; after MAX_ATTEMPTS takeovers, record the action as failed so the run can end."""
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "automation action failed, will retry",
            extra={"rule_id": str(rule.id), "run_id": str(run.id), "kind": kind,
                   "error": type(exc).__name__},
        )  # fmt: skip
        async with self._ctx.db.tenant(event.organization_id) as conn:
            current = await store.lock_run(conn, run.id)
            if current.attempts >= MAX_ATTEMPTS and len(current.actions) == index:
                await store.record_action(
                    conn, run.id, index,
                    failed(kind, "gave_up", f"failed {current.attempts} times: {error}"),
                )  # fmt: skip
                metrics.ACTIONS.labels(kind, "failed").inc()
                return
            await store.release_run(conn, run.id, now=self._ctx.clock.now(), error=error)
        metrics.RUNS.labels("retry").inc()
        raise exc
