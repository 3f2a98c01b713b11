"""What the billing endpoints share: who may do what, and the renderings of money."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.routing import roles
from storage.types import Role

TAG = "billing"
# The catalog is prices, not patient data: the owner manages it with the admins, and the staff
# read it. Invoices and plans name patients: admins, and a patient their own.
CATALOG_WRITERS = roles(Role.ADMIN, Role.OWNER)
CATALOG_READERS = roles(Role.ADMIN, Role.OWNER, Role.RECEPTIONIST, Role.SPECIALIST)
BILLING_ADMINS = roles(Role.ADMIN)
BILLING_READERS = roles(Role.ADMIN, Role.PATIENT)


def price(row: Mapping[str, Any], prefix: str = "price") -> dict[str, Any]:
    return {"amount": row[f"{prefix}_amount"], "currency": row[f"{prefix}_currency"]}


def uuid_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
