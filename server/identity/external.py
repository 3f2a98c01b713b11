"""Identity-provider subjects mapped to our memberships.

A provider proves who someone is, never what they may do: its token's (issuer, subject) must be
linked to one of our accounts (`external_identities`), and the organization, role and patient or
specialist come from that account's enabled membership in our database. The token's `org` claim
only picks among the account's memberships; a subject without a link, or without a membership
there, is refused. Links are made by a platform operator (superadmin), never by a tenant's
admin: a subject belongs to one account only, and no clinic may claim another's person.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg

from server.errors import ApiError, not_found
from server.identity._backends import Backends
from server.identity.revocation import Revocation, RevocationFeed
from server.tokens import ExternalClaims
from storage import audit, identity
from storage.audit import AuditActor
from storage.cache import BoundedCache
from storage.types import Principal, Role

# Mappings are kept briefly: the session gate still refuses disabled members on every request,
# and any revocation heard clears them (a new role shows at once).
CACHE_TTL_S = 5.0
CACHE_SIZE = 20_000


class ExternalSubjects:
    def __init__(self, backends: Backends, issuer: str, feed: RevocationFeed) -> None:
        self._backends = backends
        self.issuer = issuer
        self._feed = feed
        # A one-tuple, so that "no membership" is kept too (a miss is None).
        self._cache: BoundedCache[tuple[str, str, uuid.UUID | None], tuple[Principal | None]] = (
            BoundedCache("external_subjects", CACHE_SIZE)
        )

    def forget(self, *_: Any) -> None:
        self._cache.clear()

    async def principal_for(self, claims: ExternalClaims) -> Principal | None:
        """The membership the provider's subject signs into, or None (refused)."""
        key = (claims.issuer, claims.subject, claims.org_hint)
        cached = self._cache.get(key)
        if cached is None:
            cached = (await self._lookup(claims),)
            self._cache.put(key, cached, time.monotonic() + CACHE_TTL_S)
        found = cached[0]
        if found is None:
            return None
        return Principal(
            user_id=found.user_id,
            org_id=found.org_id,
            role=found.role,
            patient_id=found.patient_id,
            specialist_id=found.specialist_id,
            expires_at=claims.expires_at,
        )

    async def _lookup(self, claims: ExternalClaims) -> Principal | None:
        async with self._backends.db().anonymous() as conn:
            rows = await identity.external_candidates(conn, claims.issuer, claims.subject)
        for row in rows:  # enabled memberships, earliest first
            if claims.org_hint is None or row["organization_id"] == claims.org_hint:
                return Principal(
                    user_id=row["user_id"],
                    org_id=row["organization_id"],
                    role=Role(row["role"]),
                    patient_id=row["patient_id"],
                    specialist_id=row["specialist_id"],
                )
        return None

    async def link(self, actor: AuditActor, user_id: uuid.UUID, subject: str) -> dict[str, Any]:
        """Platform path: the provider's `subject` signs in as account `user_id` from now on."""
        async with self._backends.db().platform() as conn:
            if not await identity.account_exists(user_id):
                raise not_found("account")
            row = await identity.link_subject(self.issuer, subject, user_id)
            if row["user_id"] != user_id:
                raise ApiError(409, "conflict", "this subject is linked to another account")
            await self._audit(conn, actor, user_id, "user.external_link", None, subject)
        self.forget()  # a "no such subject" kept a moment ago is wrong now
        return row

    async def unlink(self, actor: AuditActor, user_id: uuid.UUID) -> None:
        """Platform path: the account's provider subject no longer signs in; the account's live
        connections end at once on every process (they may be the provider's)."""
        async with self._backends.db().platform() as conn:
            subjects = await identity.unlink_subjects(self.issuer, user_id)
            for subject in subjects:
                await self._audit(conn, actor, user_id, "user.external_unlink", subject, None)
        if subjects:
            await self._feed.publish([Revocation(user_id)])

    async def _audit(
        self,
        conn: asyncpg.Connection,
        actor: AuditActor,
        user_id: uuid.UUID,
        action: str,
        before: str | None,
        after: str | None,
    ) -> None:
        await audit.record(
            conn,
            actor=actor,
            organization_id=None,
            action=action,
            entity="user",
            entity_id=user_id,
            before={"external_subject": before, "issuer": self.issuer},
            after={"external_subject": after, "issuer": self.issuer},
        )
