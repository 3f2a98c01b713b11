"""The SSRF guard: a webhook goes only to a public address (or one the operator allowlisted).

Checked twice. When an endpoint is created or its URL changed (`check_url`): the scheme, and a
host written as an IP literal in a refused range, so the admin hears of it at once (422). And
at every attempt (`GuardedResolver`), because DNS answers change: the sender's connector
resolves through the guard, so the connection is made only to the addresses that were checked
(no gap between a check and a second lookup for a rebinding DNS server to use). IP literals
never reach a resolver, so the sender checks them itself (`check_address`).
"""

from __future__ import annotations

import ipaddress
import re
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from actors.webhooks._options import WebhookOptions
from storage.errors import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_LEGACY_V4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)
# A host name as DNS knows it (after IDNA): letters, digits, hyphens and dots.
_HOST_NAME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$", re.IGNORECASE)


class AddressRefused(OSError):
    """The host is, or resolves only to, addresses webhooks may not reach. An OSError, so
    aiohttp's connector carries it as the cause of its connection error."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host}: no address a webhook may reach")
        self.host = host


def refused(address: Address, options: WebhookOptions) -> bool:
    """Whether a webhook may not connect to `address`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if any(address in net for net in options.allowlist):
        return False
    if address.is_loopback:
        return not options.allow_loopback
    # Not global: private, link-local (cloud metadata 169.254.169.254), shared (100.64/10),
    # reserved, unspecified (0.0.0.0 reaches the host itself), documentation ranges.
    return not address.is_global or address.is_multicast


def literal(host: str) -> Address | None:
    """The address a host written as an IP literal names, legacy IPv4 forms included
    (`2130706433`, `0x7f000001`, `0177.1`: getaddrinfo takes them for 127.0.0.1 too)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _LEGACY_V4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str, options: WebhookOptions) -> URL:
    """The parsed URL, or Invalid (field `url`) for one no webhook may be sent to: not http(s),
    http where https is required, no host, credentials in it, or an IP literal in a refused
    range. A host name is resolved at send time only (see the module docstring)."""
    try:
        parsed = URL(url)
        host = parsed.raw_host  # IDNA-encoded: what DNS is asked
        str(parsed)  # a name IDNA cannot encode fails here
    except (ValueError, TypeError):  # UnicodeError is a ValueError
        raise Invalid({"url": "is not a URL"}) from None
    if parsed.scheme not in ("http", "https") or not host:
        raise Invalid({"url": "must be an absolute http(s) URL"})
    if literal(host) is None and not _HOST_NAME.match(host):
        raise Invalid({"url": "has a host that is neither a name nor an address"})
    if options.require_https and parsed.scheme != "https":
        raise Invalid({"url": "must use https"})
    if parsed.user is not None or parsed.password is not None:
        raise Invalid({"url": "must not carry credentials"})
    if parsed.fragment:
        raise Invalid({"url": "must not have a fragment"})
    address = literal(host)
    if address is not None and refused(address, options):
        raise Invalid({"url": "is a private, loopback or reserved address"})
    return parsed


def check_address(host: str, options: WebhookOptions) -> None:
    """Raise AddressRefused when `host` is an IP literal in a refused range."""
    address = literal(host)
    if address is not None and refused(address, options):
        raise AddressRefused(host)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with the refused addresses taken out of every answer."""

    def __init__(self, options: WebhookOptions, inner: AbstractResolver | None = None) -> None:
        self._options = options
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        options = self._options
        allowed = [a for a in answers if not refused(ipaddress.ip_address(a["host"]), options)]
        if not allowed:
            raise AddressRefused(host)
        return allowed

    async def close(self) -> None:
        await self._inner.close()
