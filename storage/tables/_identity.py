"""Sessions (refresh tokens), password resets and identities from outside providers."""

from __future__ import annotations

from piccolo.columns import UUID, Bytea, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class RefreshTokens(Table, tablename="refresh_tokens", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID(null=True, default=None)
    user_id = UUID()
    family_id = UUID()
    parent_id = UUID(null=True, default=None)
    token_hash = Bytea()
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class PasswordResets(Table, tablename="password_resets", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    user_id = UUID()
    token_hash = Bytea()
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class ExternalIdentities(Table, tablename="external_identities", db=ENGINE):
    """Primary key (issuer, subject); Piccolo knows one column of it."""

    issuer = Text(primary_key=True)
    subject = Text()
    user_id = UUID()
    created_at = Timestamptz(default=TimestamptzNow())
