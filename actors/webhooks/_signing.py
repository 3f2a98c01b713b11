"""Standard Webhooks signing (https://www.standardwebhooks.com), through its library: the
`webhook-id`, `webhook-timestamp` and `webhook-signature` headers of one attempt."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from math import floor

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret in the specification's format: `whsec_` + base64 of its bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signed_headers(
    message_id: str, body: str, secret_list: Sequence[str], at: datetime
) -> dict[str, str]:
    """The headers of one attempt. Every secret signs (space-separated, current first), so a
    receiver that still knows only the previous secret accepts it during a rotation."""
    signatures = " ".join(Webhook(s).sign(message_id, at, body) for s in secret_list)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "Cadence-Webhooks/1",
    }
