from __future__ import annotations

import logging
import uuid

import orjson

from server.logs import JsonFormatter
from storage.audit import MASKED, diff


def test_sensitive_extra_fields_are_redacted() -> None:
    record = logging.makeLogRecord(
        {"msg": "login", "levelname": "INFO", "email": "a@b.c", "password": "pw", "user": "u1"}
    )
    out = orjson.loads(JsonFormatter().format(record))
    assert out["email"] == "[redacted]" and out["password"] == "[redacted]"
    assert out["user"] == "u1"


def test_audit_diff_keeps_only_changes_and_masks_secrets() -> None:
    uid = uuid.uuid4()
    changes = diff(
        {"role": "patient", "email": "old@x", "id": uid, "same": 1},
        {"role": "admin", "email": "new@x", "id": uid, "same": 1},
    )
    assert changes == {
        "email": {"before": MASKED, "after": MASKED},
        "role": {"before": "patient", "after": "admin"},
    }
