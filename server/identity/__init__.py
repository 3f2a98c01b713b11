"""Identity, tenancy and audit: organizations, people and roles, sign-in and tokens, the policy
deciding who may call which route and subscribe to which channel, rate limits."""

from server.identity._backends import Backends
from server.identity._services import IDENTITY_KEY, Identity
from server.identity.policy import Policy

__all__ = ["IDENTITY_KEY", "Backends", "Identity", "Policy"]
