"""An organization's people: list, add (create or invite), change role, disable and enable.

Each mutation writes exactly one audit row in its own transaction, and publishes its effect on
sessions to the gate only after the commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from server.errors import ApiError, not_found, validation_failed
from server.http import iso
from server.identity import organizations
from server.identity._backends import Backends
from server.identity._web import Page
from server.identity.gate import MembershipGate
from server.identity.passwords import Passwords
from storage import audit, identity
from storage.audit import AuditActor
from storage.types import Principal

Row = dict[str, Any]
_LINKS = {"patient_id": "patient", "specialist_id": "specialist"}


def render(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "display_name": row["display_name"],
        "role": row["role"],
        "patient_id": str(row["patient_id"]) if row["patient_id"] else None,
        "specialist_id": str(row["specialist_id"]) if row["specialist_id"] else None,
        "disabled": row["disabled_at"] is not None,
        "disabled_at": iso(row["disabled_at"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _snapshot(row: Row) -> Row:
    """What the audit diff compares (e-mail is masked by the audit log itself)."""
    keys = ("email", "display_name", "role", "patient_id", "specialist_id", "disabled_at")
    return {k: row[k] for k in keys}


def _check_links(role: str, links: dict[str, uuid.UUID | None]) -> None:
    wrong = {
        name: f"only a {needed} may have a {name}"
        for name, needed in _LINKS.items()
        if links.get(name) is not None and role != needed
    }
    if wrong:
        raise validation_failed(wrong)


async def _ensure_links(links: dict[str, uuid.UUID | None]) -> None:
    """422 for a link to a patient or specialist that is not the organization's own (the
    composite foreign keys still refuse one that goes away meanwhile: LinkRefused, also 422)."""
    missing = await identity.missing_links(links)
    if missing:
        raise validation_failed(
            {name: f"no such {_LINKS[name]} in this organization" for name in missing}
        )


class Members:
    def __init__(self, backends: Backends, passwords: Passwords, gate: MembershipGate) -> None:
        self._backends = backends
        self._passwords = passwords
        self._gate = gate

    async def list(self, org_id: uuid.UUID, page: Page) -> list[Row]:
        async with self._backends.db().tenant(org_id) as conn:
            return await identity.list_members(conn, page.limit + 1, page.after)

    async def get(self, org_id: uuid.UUID, user_id: uuid.UUID) -> Row:
        async with self._backends.db().tenant(org_id) as conn:
            member = await identity.get_member(conn, user_id)
        if member is None:
            raise not_found("user")
        return member

    async def profile(self, who: Principal) -> dict[str, Any]:
        """GET /v1/me: the token's claims, its account and its organization."""
        db = self._backends.db()
        async with db.tenant(who.org_id) if who.org_id else db.platform():
            user = await identity.get_account(who.user_id) if who.user_id else None
            org = await identity.get_organization(who.org_id) if who.org_id else None
        return {
            "user": None
            if user is None
            else {
                "id": str(user["id"]),
                "email": user["email"],
                "display_name": user["display_name"],
            },
            "organization": None if org is None else organizations.render(org),
            "role": who.role.value,
            "patient_id": str(who.patient_id) if who.patient_id else None,
            "specialist_id": str(who.specialist_id) if who.specialist_id else None,
        }

    async def add(self, org_id: uuid.UUID, actor: AuditActor, body: dict[str, Any]) -> Row:
        role = body["role"]
        links = {name: _uuid(body.get(name)) for name in _LINKS}
        _check_links(role, links)
        password = body.get("password")
        # Hashed before the transaction: no connection is held during the ~20 ms of argon2.
        password_hash = await self._passwords.hash(password) if password else None
        async with self._backends.db().tenant(org_id) as conn:
            await _ensure_links(links)
            member = await identity.add_member(
                conn,
                org_id,
                email=body["email"].strip(),
                password_hash=password_hash,
                display_name=body.get("display_name", ""),
                role=role,
                **links,
            )
            await audit.record(
                conn,
                actor=actor,
                organization_id=org_id,
                action="user.create",
                entity="user",
                entity_id=member["id"],
                after=_snapshot(member),
            )
        return member

    async def update(
        self, org_id: uuid.UUID, actor: AuditActor, user_id: uuid.UUID, body: dict[str, Any]
    ) -> Row:
        """Role and patient/specialist links. Tokens issued before a change are refused, so the
        next refresh carries the new role."""
        self._not_self(actor, user_id)
        async with self._backends.db().tenant(org_id) as conn:
            before = await identity.get_member(conn, user_id, for_update=True)
            if before is None:
                raise not_found("user")
            role = str(body.get("role") or before["role"])
            links = {
                # A link that no longer fits the new role is dropped unless the body sets it.
                name: _uuid(body[name]) if name in body else
                (before[name] if role == needed else None)
                for name, needed in _LINKS.items()
            }  # fmt: skip
            _check_links(role, links)
            changes = {k: v for k, v in {"role": role, **links}.items() if before[k] != v}
            if not changes:
                return before
            await _ensure_links({k: v for k, v in links.items() if k in changes})
            changes["sessions_valid_after"] = datetime.now(UTC)
            after = await identity.update_member(conn, user_id, changes)
            await self._record(conn, actor, org_id, "user.update", before, after)
        await self._publish(org_id, after)
        return after

    async def set_enabled(
        self, org_id: uuid.UUID, actor: AuditActor, user_id: uuid.UUID, enabled: bool
    ) -> Row:
        """Disable: the member's tokens are refused from now on and its refresh tokens revoked.
        Enable: tokens from before the disable stay dead. Repeating either is a no-op."""
        if not enabled:
            self._not_self(actor, user_id)
        async with self._backends.db().tenant(org_id) as conn:
            before = await identity.get_member(conn, user_id, for_update=True)
            if before is None:
                raise not_found("user")
            if (before["disabled_at"] is None) == enabled:
                return before
            now = datetime.now(UTC)
            changes: dict[str, Any] = {"disabled_at": None if enabled else now}
            if enabled:
                changes["sessions_valid_after"] = now
            else:
                await identity.revoke_user_sessions(user_id)
            after = await identity.update_member(conn, user_id, changes)
            action = "user.enable" if enabled else "user.disable"
            await self._record(conn, actor, org_id, action, before, after)
        await self._publish(org_id, after)
        return after

    async def remove(self, org_id: uuid.UUID, actor: AuditActor, user_id: uuid.UUID) -> None:
        """The person leaves the organization: the membership is deleted, its sign-ins here are
        revoked and its open WebSockets closed. The account stays (other organizations)."""
        self._not_self(actor, user_id)
        async with self._backends.db().tenant(org_id) as conn:
            before = await identity.get_member(conn, user_id, for_update=True)
            if before is None:
                raise not_found("user")
            sessions = await identity.revoke_user_sessions(user_id)
            await identity.delete_member(user_id)
            await audit.record(
                conn,
                actor=actor,
                organization_id=org_id,
                action="user.remove",
                entity="user",
                entity_id=user_id,
                before=_snapshot(before),
            )
        # Tokens from before now are refused, also those that name no sign-in.
        await self._gate.remember(org_id, user_id, disabled=False, valid_after=datetime.now(UTC))
        await self._gate.revoke_sessions(user_id, sessions, org_id)

    @staticmethod
    def _not_self(actor: AuditActor, user_id: uuid.UUID) -> None:
        if actor.user_id == user_id:  # an admin must not lock themselves out by accident
            raise ApiError(409, "conflict", "you cannot change or disable your own membership")

    @staticmethod
    async def _record(
        conn: asyncpg.Connection,
        actor: AuditActor,
        org_id: uuid.UUID,
        action: str,
        before: Row,
        after: Row,
    ) -> None:
        await audit.record(
            conn,
            actor=actor,
            organization_id=org_id,
            action=action,
            entity="user",
            entity_id=after["id"],
            before=_snapshot(before),
            after=_snapshot(after),
        )

    async def _publish(self, org_id: uuid.UUID, member: Row) -> None:
        await self._gate.remember(
            org_id,
            member["id"],
            disabled=member["disabled_at"] is not None,
            valid_after=member["sessions_valid_after"],
        )


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))
