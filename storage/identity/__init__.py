"""Identity storage: organizations, accounts and memberships, sessions (refresh tokens),
password changes and resets, identity-provider links, and the audit log's reading side.

Functions without a `conn` are Piccolo queries: they run on the transaction of the block they
are awaited in (`Database.tenant(org)`, `.anonymous()`, `.platform()`). Functions that take a
`conn` first need SQL the query builder does not express (SECURITY DEFINER functions, a join);
pass the connection of that same block. Row-level security applies to both alike.
"""

from storage.identity._accounts import (
    account_exists,
    create_account,
    get_account,
    login_candidates,
)
from storage.identity._audit_log import AuditFilter, list_audit
from storage.identity._channels import CalendarVisibility, calendar_visibility
from storage.identity._errors import AlreadyMember, IdentityError, LinkRefused, SlugTaken
from storage.identity._external import external_candidates, link_subject, unlink_subjects
from storage.identity._members import (
    add_member,
    delete_member,
    get_member,
    insert_membership,
    list_members,
    membership_state,
    missing_links,
    update_member,
)
from storage.identity._organizations import (
    create_organization,
    get_organization,
    list_organizations,
    organization_ids,
    update_organization,
)
from storage.identity._passwords import (
    PasswordChanged,
    change_password,
    finish_reset,
    rehash_password,
    replace_password,
    start_reset,
)
from storage.identity._sessions import (
    claim_refresh_token,
    mark_used,
    revoke_family,
    revoke_user_sessions,
    session_revoked,
    store_refresh_token,
)

__all__ = [
    "AlreadyMember",
    "AuditFilter",
    "CalendarVisibility",
    "IdentityError",
    "LinkRefused",
    "PasswordChanged",
    "SlugTaken",
    "account_exists",
    "add_member",
    "calendar_visibility",
    "change_password",
    "claim_refresh_token",
    "create_account",
    "create_organization",
    "delete_member",
    "external_candidates",
    "finish_reset",
    "get_account",
    "get_member",
    "get_organization",
    "insert_membership",
    "link_subject",
    "list_audit",
    "list_members",
    "list_organizations",
    "organization_ids",
    "login_candidates",
    "mark_used",
    "membership_state",
    "missing_links",
    "rehash_password",
    "replace_password",
    "revoke_family",
    "revoke_user_sessions",
    "session_revoked",
    "start_reset",
    "store_refresh_token",
    "unlink_subjects",
    "update_member",
    "update_organization",
]
