"""Settings of virtual visits (`Settings.visit`): the room's open window and the ICE servers
browsers use to reach each other (docs/visits.md, "STUN and TURN"). Beside server/settings.py,
which reads it, rather than in server/visits/: the settings import nothing of the server.

TURN with a shared secret hands out short-lived HMAC credentials (the TURN REST API scheme that
coturn's `use-auth-secret` implements): the secret never leaves the server. Outside development
and test nothing is defaulted: TURN URLs without a secret are refused at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Known to every reader of this file: development and test only (never a fallback elsewhere).
DEV_TURN_SECRET = "cadence-development-turn-secret"
STUN_SCHEMES = ("stun", "stuns")
TURN_SCHEMES = ("turn", "turns")


@dataclass(frozen=True, slots=True)
class VisitSettings:
    open_before_s: int = 10 * 60  # the room opens this long before the appointment's start ...
    close_after_s: int = 30 * 60  # ... and closes this long after its end
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = field(default="", repr=False)
    turn_ttl_s: int = 3600  # lifetime of one TURN credential
    # `builtin` (peer to peer over the gateway) or `package.module:name` of a VisitProvider.
    provider: str = "builtin"


def visit_settings(env: Mapping[str, str], local: bool, problems: list[str]) -> VisitSettings:
    """Read CADENCE_VISIT_* from `env`; appends every problem found to `problems`."""

    def text(key: str) -> str:
        return env.get(key, "").strip()

    def seconds(key: str, default: int, low: int, high: int) -> int:
        raw = text(key)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{key} must be an integer, got {raw!r}")
            return default
        if not low <= value <= high:
            problems.append(f"{key} must be between {low} and {high}")
        return value

    def urls(key: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
        found = tuple(p.strip() for p in text(key).split(",") if p.strip())
        for url in found:
            # stun:host:port has no `//`: urlsplit still reads its scheme.
            if urlsplit(url).scheme not in schemes or len(url) > 512:
                problems.append(f"{key}: {url[:80]!r} is not a {'/'.join(schemes)} URL")
        return found

    turn_urls = urls("CADENCE_VISIT_TURN_URLS", TURN_SCHEMES)
    secret = text("CADENCE_VISIT_TURN_SECRET")
    if turn_urls and not secret:
        if local:
            secret = DEV_TURN_SECRET
        else:
            problems.append(
                "CADENCE_VISIT_TURN_SECRET is required with CADENCE_VISIT_TURN_URLS "
                "(or set CADENCE_ENV=development)"
            )
    elif secret and not local and (secret == DEV_TURN_SECRET or len(secret) < 16):
        problems.append("CADENCE_VISIT_TURN_SECRET must be a non-default value of 16+ characters")
    provider = text("CADENCE_VISIT_PROVIDER") or "builtin"
    return VisitSettings(
        open_before_s=seconds("CADENCE_VISIT_OPEN_BEFORE_S", 10 * 60, 0, 24 * 3600),
        close_after_s=seconds("CADENCE_VISIT_CLOSE_AFTER_S", 30 * 60, 0, 24 * 3600),
        stun_urls=urls("CADENCE_VISIT_STUN_URLS", STUN_SCHEMES),
        turn_urls=turn_urls,
        turn_secret=secret,
        turn_ttl_s=seconds("CADENCE_VISIT_TURN_TTL_S", 3600, 60, 24 * 3600),
        provider=provider,
    )
