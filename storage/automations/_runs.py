"""Runs: one rule for one event, recorded before anything is done, finished with its outcome.

States: `running` -> `succeeded` | `failed` | `skipped` (final). The unique key (organization,
rule, event id) makes a redelivered event find its run instead of making another. A claim holds
a lease (`leased_until`): a worker that dies mid-run leaves a `running` row that the retry of the
same event takes over once the lease has passed (`attempts` counts the takeovers), so a crash
leads to a completed run, never to a silent skip. `actions` lists the outcomes of the actions
done so far, in order: the next attempt starts at the first action without an outcome, and an
action's outcome is appended in the transaction of the action's own writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from storage.errors import InvalidTransition

ERROR_CHARS = 500


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def final(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Run:
    id: uuid.UUID
    rule_id: uuid.UUID
    event_id: str
    event_type: str
    patient_id: uuid.UUID | None
    status: RunStatus
    reason: str | None
    error: str | None
    rule_actions: list[dict[str, Any]]  # the rule's actions when the run was recorded
    actions: list[dict[str, Any]]  # the outcomes so far, by position in rule_actions
    attempts: int
    leased_until: datetime | None
    started_at: datetime
    finished_at: datetime | None


class ClaimState(StrEnum):
    CLAIMED = "claimed"  # new, or taken over after its lease: this caller runs it
    DONE = "done"  # finished before: nothing to do
    HELD = "held"  # running under another worker's live lease: try again later


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    run: Run


_COLUMNS = """id, rule_id, event_id, event_type, patient_id, status, reason, error,
              rule_actions, actions, attempts, leased_until, started_at, finished_at"""


def _run(row: Mapping[str, Any]) -> Run:
    return Run(**{**dict(row), "status": RunStatus(row["status"])})


async def claim_run(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID,
    rule_id: uuid.UUID,
    event_id: str,
    event_type: str,
    patient_id: uuid.UUID | None,
    rule_actions: Sequence[Mapping[str, Any]],
    now: datetime,
    lease: timedelta,
) -> Claim:
    """Record the run (first sight of this rule and event) or take it over (a running row
    whose lease has passed); otherwise say why not. In the caller's tenant transaction."""
    created = await conn.fetchrow(
        f"""INSERT INTO automation_runs (organization_id, rule_id, event_id, event_type,
                                         patient_id, rule_actions, leased_until, started_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (organization_id, rule_id, event_id) DO NOTHING
            RETURNING {_COLUMNS}""",
        org_id, rule_id, event_id, event_type, patient_id, [dict(a) for a in rule_actions],
        now + lease, now,
    )  # fmt: skip
    if created is not None:
        return Claim(ClaimState.CLAIMED, _run(created))
    taken = await conn.fetchrow(
        f"""UPDATE automation_runs SET attempts = attempts + 1, leased_until = $3
            WHERE rule_id = $1 AND event_id = $2 AND status = 'running' AND leased_until <= $4
            RETURNING {_COLUMNS}""",
        rule_id, event_id, now + lease, now,
    )  # fmt: skip
    if taken is not None:
        return Claim(ClaimState.CLAIMED, _run(taken))
    found = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM automation_runs WHERE rule_id = $1 AND event_id = $2",
        rule_id,
        event_id,
    )
    run = _run(found)
    return Claim(ClaimState.DONE if run.status.final else ClaimState.HELD, run)


async def lock_run(conn: asyncpg.Connection, run_id: uuid.UUID) -> Run:
    """The run, locked for the transaction (an action and its outcome commit together)."""
    found = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM automation_runs WHERE id = $1 FOR UPDATE", run_id
    )
    return _run(found)


async def record_action(
    conn: asyncpg.Connection, run_id: uuid.UUID, index: int, outcome: Mapping[str, Any]
) -> bool:
    """Append the outcome of action `index`; False if that action already has one (a
    concurrent worker recorded it first)."""
    done = await conn.execute(
        """UPDATE automation_runs SET actions = actions || jsonb_build_array($3::jsonb)
           WHERE id = $1 AND status = 'running' AND jsonb_array_length(actions) = $2""",
        run_id,
        index,
        dict(outcome),
    )
    return bool(done == "UPDATE 1")


async def release_run(
    conn: asyncpg.Connection, run_id: uuid.UUID, *, now: datetime, error: str
) -> None:
    """Give the lease back after a transient failure, so the event's retry takes the run over at
    once rather than after the lease."""
    await conn.execute(
        """UPDATE automation_runs SET leased_until = $2, error = $3
           WHERE id = $1 AND status = 'running'""",
        run_id,
        now,
        error[:ERROR_CHARS],
    )


async def finish_run(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    status: RunStatus,
    *,
    now: datetime,
    reason: str | None = None,
    error: str | None = None,
) -> Run:
    """running -> a final status (InvalidTransition from a final one)."""
    if not status.final:
        raise ValueError("a run finishes in a final status")
    found = await conn.fetchrow(
        f"""UPDATE automation_runs SET status = $2, reason = $3, error = $4, finished_at = $5,
                   leased_until = NULL
            WHERE id = $1 AND status = 'running' RETURNING {_COLUMNS}""",
        run_id,
        status.value,
        None if reason is None else reason[:200],
        None if error is None else error[:ERROR_CHARS],
        now,
    )
    if found is None:
        raise InvalidTransition("automation run", "final", f"finish as {status.value}", [])
    return _run(found)


async def list_runs(
    conn: asyncpg.Connection,
    rule_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Run]:
    """The rule's runs, oldest first, after the previous page's (started_at, id)."""
    args: list[Any] = [rule_id, limit]
    where = "rule_id = $1"
    if after is not None:
        where += " AND (started_at, id) > ($3, $4)"
        args += list(after)
    found = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM automation_runs WHERE {where}
            ORDER BY started_at, id LIMIT $2""",
        *args,
    )
    return [_run(r) for r in found]


async def unfinished_rule_ids(conn: asyncpg.Connection, event_id: str) -> list[uuid.UUID]:
    """Rules with a run of this event still `running` (a retry finishes them even if the rule
    was disabled or deleted since the run began)."""
    found = await conn.fetch(
        "SELECT rule_id FROM automation_runs WHERE event_id = $1 AND status = 'running'", event_id
    )
    return [r["rule_id"] for r in found]


async def events_with_unfinished_runs(
    conn: asyncpg.Connection, event_ids: Sequence[str]
) -> set[str]:
    """Which of these events have a run still `running` (to be finished by a retry)."""
    found = await conn.fetch(
        "SELECT DISTINCT event_id FROM automation_runs"
        " WHERE event_id = ANY($1::text[]) AND status = 'running'",
        list(event_ids),
    )
    return {r["event_id"] for r in found}


def outcome_of(actions: Sequence[Mapping[str, Any]]) -> RunStatus:
    """A run fails when one of its actions failed; skipped actions are not failures."""
    if any(a.get("status") == "failed" for a in actions):
        return RunStatus.FAILED
    return RunStatus.SUCCEEDED
