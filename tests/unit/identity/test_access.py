from __future__ import annotations

import uuid

import pytest

from server.errors import ApiError
from server.identity.policy import Policy
from server.routing import AUTHENTICATED, EVERYONE, PUBLIC, roles
from storage.db import Database
from storage.types import Principal, Role


def _no_database() -> Database:
    raise AssertionError("these checks are decided from the token alone")


POLICY = Policy(_no_database)


def who(role: Role) -> Principal:
    org = None if role is Role.SUPERADMIN else uuid.uuid4()
    return Principal(uuid.uuid4(), org, role)


@pytest.mark.parametrize("role", list(Role))
def test_route_decisions_follow_the_declaration(role: Role) -> None:
    POLICY.check_route(PUBLIC, None)
    POLICY.check_route(PUBLIC, who(role))
    POLICY.check_route(EVERYONE, who(role))
    with pytest.raises(ApiError) as missing:
        POLICY.check_route(roles(Role.ADMIN), None)
    assert missing.value.status == 401
    if role is Role.ADMIN:
        POLICY.check_route(roles(Role.ADMIN), who(role))
    else:
        with pytest.raises(ApiError) as denied:
            POLICY.check_route(roles(Role.ADMIN), who(role))
        assert denied.value.status == 403


def test_superadmin_passes_only_where_named() -> None:
    assert not AUTHENTICATED.allows(Role.SUPERADMIN)
    assert all(AUTHENTICATED.allows(r) for r in Role if r is not Role.SUPERADMIN)
    assert roles(Role.SUPERADMIN).allows(Role.SUPERADMIN)


def test_public_endpoints_are_rate_limited_by_default() -> None:
    assert PUBLIC.rate is not None and PUBLIC.rate.limit > 0
