"""How the webhooks consumer and sender behave; built by the server from its settings."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Waits after failed attempt 1, 2, ...: about a day from the first attempt to the last (the
# 11th), denser at first (a receiver restarting) and sparser later (a receiver down for hours).
BACKOFF_S: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """`allow_loopback`: deliveries to 127.0.0.0/8 and ::1 (development and tests only).
    `allowlist`: networks allowed although private (an on-premises receiver, say).
    `require_https`: refuse http:// endpoints (everywhere but development and tests).
    An endpoint is disabled once `failure_threshold` attempts in a row failed AND its failures
    began at least `failure_min_age_s` ago: a burst of events into a short outage does not
    disable it, a receiver that stays down is disabled within about an hour of steady traffic
    (one lone event alone makes 11 attempts over a day and never reaches 20)."""

    allow_loopback: bool = False
    allowlist: tuple[Network, ...] = ()
    require_https: bool = True
    timeout_s: float = 10.0
    failure_threshold: int = 20
    failure_min_age_s: float = 3600.0
    backoff_s: tuple[float, ...] = BACKOFF_S
    jitter: float = 0.2  # each wait is drawn in [1 - jitter, 1 + jitter] times its step
    batch_size: int = 50  # deliveries one `run_once` claims
    concurrency: int = 16  # requests in flight at once
    secret_grace_s: float = 24 * 3600.0  # the previous secret keeps signing after a rotation

    @property
    def lease_s(self) -> float:
        """How long a claimed delivery is ours: longer than any attempt can take."""
        return self.timeout_s + 30.0

    @property
    def max_attempts(self) -> int:
        return len(self.backoff_s) + 1


def parse_allowlist(text: str) -> tuple[Network, ...]:
    """ "10.1.0.0/16, fd00::/8" -> networks; raises ValueError naming the bad item."""
    out: list[Network] = []
    for item in (p.strip() for p in text.split(",")):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not a network (CIDR): {item!r}") from None
    return tuple(out)
