"""The pure parts of webhooks: event filters, the SSRF address rules, the retry schedule and
Standard Webhooks signing (verified by the specification's own library)."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from actors.webhooks import (
    WebhookOptions,
    check_url,
    matches,
    new_secret,
    parse_allowlist,
    refused,
    signed_headers,
    valid_filter,
)
from actors.webhooks._retry import next_step
from storage.errors import Invalid
from storage.webhooks import DELIVERED, FAILED, PENDING

STRICT = WebhookOptions()
LOCAL = WebhookOptions(allow_loopback=True, require_https=False)
PLAIN = WebhookOptions(require_https=False)  # http, but no loopback


@pytest.mark.parametrize(
    ("filters", "kind", "expected"),
    [
        (["*"], "appointment.booked", True),
        (["appointment.booked"], "appointment.booked", True),
        (["appointment.booked"], "appointment.cancelled", False),
        (["appointment.*"], "appointment.no_show", True),
        (["appointment.*"], "appointments.x", False),
        (["appointment.*"], "appointment", False),
        (["service.updated", "calendar.*"], "calendar.updated", True),
        ([], "appointment.booked", False),
    ],
)
def test_filters(filters: list[str], kind: str, expected: bool) -> None:
    assert matches(filters, kind) is expected


@pytest.mark.parametrize("value", ["*", "appointment.*", "appointment.booked", "a.b_c.d"])
def test_valid_filters(value: str) -> None:
    assert valid_filter(value)


@pytest.mark.parametrize("value", ["", "**", "appointment.", "Appointment", "a.*.b", "*.booked"])
def test_invalid_filters(value: str) -> None:
    assert not valid_filter(value)


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "240.0.0.1", "fd00::1", "fe80::1", "::ffff:10.0.0.1", "::", "198.18.0.1"],
)  # fmt: skip
def test_private_and_reserved_addresses_are_refused(address: str) -> None:
    assert refused(ipaddress.ip_address(address), STRICT)
    assert refused(ipaddress.ip_address(address), LOCAL)


def test_loopback_only_where_allowed_and_the_allowlist_wins() -> None:
    for text in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        address = ipaddress.ip_address(text)
        assert refused(address, STRICT) and not refused(address, LOCAL)
    onprem = WebhookOptions(allowlist=parse_allowlist("10.1.0.0/16, fd00::/8"))
    assert not refused(ipaddress.ip_address("10.1.2.3"), onprem)
    assert refused(ipaddress.ip_address("10.2.0.1"), onprem)
    assert not refused(ipaddress.ip_address("8.8.8.8"), STRICT)
    with pytest.raises(ValueError, match="nope"):
        parse_allowlist("10.0.0.0/8, nope")


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("http://example.com/hook", STRICT),  # https required
        ("https://10.0.0.1/hook", STRICT),
        ("https://[::1]/hook", STRICT),
        ("ftp://example.com/", LOCAL),
        ("https:///nohost", LOCAL),
        ("/relative", LOCAL),
        ("https://u:p@example.com/", LOCAL),
        ("https://example.com/#frag", LOCAL),
        ("http://2130706433/", PLAIN),  # 127.0.0.1 in getaddrinfo's eyes
        ("http://0x7f000001/", PLAIN),
        ("http://0177.1/", PLAIN),
        ("http://10.1/", LOCAL),  # 10.0.0.1
        ("http://a b.example/", LOCAL),
        ("http://%zz/", LOCAL),
    ],
)
def test_urls_refused(url: str, options: WebhookOptions) -> None:
    with pytest.raises(Invalid) as refused_url:
        check_url(url, options)
    assert "url" in refused_url.value.fields


def test_urls_accepted() -> None:
    assert str(check_url("https://hooks.example.com/x?a=1", STRICT)) == (
        "https://hooks.example.com/x?a=1"
    )
    assert check_url("http://127.0.0.1:9/x", LOCAL).port == 9
    assert check_url("http://localhost/x", LOCAL).host == "localhost"  # names: at send time


def test_the_retry_schedule_spans_about_a_day_with_jitter() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    assert next_step(1, True, now, STRICT, rng) == (DELIVERED, None)
    waits = []
    for attempt in range(1, STRICT.max_attempts):
        status, at = next_step(attempt, False, now, STRICT, rng)
        assert status == PENDING and at is not None
        step = STRICT.backoff_s[attempt - 1]
        assert step * 0.8 <= (at - now).total_seconds() <= step * 1.2
        waits.append((at - now).total_seconds())
    assert timedelta(hours=18) < timedelta(seconds=sum(waits)) < timedelta(hours=30)
    assert next_step(STRICT.max_attempts, False, now, STRICT, rng) == (FAILED, None)


def test_signatures_verify_with_the_standard_library() -> None:
    current, previous = new_secret(), new_secret()
    assert current.startswith("whsec_") and current != previous
    body = '{"type":"appointment.booked","timestamp":"2026-01-01T00:00:00Z","data":{}}'
    headers = signed_headers("evt_1_2-0", body, [current, previous], datetime.now(UTC))
    assert headers["webhook-id"] == "evt_1_2-0"
    assert Webhook(current).verify(body, headers)["type"] == "appointment.booked"
    assert Webhook(previous).verify(body, headers)["type"] == "appointment.booked"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(current).verify(body.replace("booked", "cancelled"), headers)
