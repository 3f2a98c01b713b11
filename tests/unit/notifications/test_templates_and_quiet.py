"""Templates (substitution, escaping, placeholder checks, built-in languages) and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from actors.notifications import templates
from actors.notifications.quiet import quiet_until, zone
from storage.notifications import QuietHours


def test_substitution_is_one_pass_and_braces_escape() -> None:
    text = templates.Text("Hi {patient_name}\r\nBcc: x", "{{literal}} {code} {unknown}")
    out = templates.render(text, {"patient_name": "{code}", "code": "123"})
    assert out.subject == "Hi {code} Bcc: x"  # a value is not a template; no header break
    assert out.body == "{literal} 123 "


def test_unknown_placeholders_are_named_per_kind() -> None:
    assert templates.unknown_placeholders("password_reset", "{code} {minutes}") == set()
    assert templates.unknown_placeholders("password_reset", "{code}", "{patient_name}") == {
        "patient_name"
    }
    assert templates.unknown_placeholders("appointment_reminder", "{lead} {{lead2}}") == set()


def test_every_kind_has_english_and_romanian_for_every_channel() -> None:
    for kind in templates.KINDS:
        for channel in templates.CHANNELS:
            en = templates.builtin(kind, channel, "en")
            ro = templates.builtin(kind, channel, "ro")
            assert en.body and ro.body and en.body != ro.body
            used = templates.placeholders_of(en.subject + en.body + ro.subject + ro.body)
            assert used <= templates.PLACEHOLDERS[kind], kind
    assert templates.builtin("appointment_change", "sms", "fr") == templates.builtin(
        "appointment_change", "sms", "en"
    )


def test_lead_texts() -> None:
    assert templates.lead_text(1440, "en") == "1 day"
    assert templates.lead_text(120, "ro") == "2 ore"
    assert templates.lead_text(60, "ro") == "o oră"
    assert templates.lead_text(45, "en") == "45 min"


def test_quiet_hours_wrap_past_midnight_in_the_local_zone() -> None:
    bucharest = ZoneInfo("Europe/Bucharest")  # UTC+2 in December
    night = QuietHours(22 * 60, 7 * 60)
    at = datetime(2026, 12, 2, 21, 30, tzinfo=UTC)  # 23:30 local
    assert quiet_until(at, night, bucharest) == datetime(2026, 12, 3, 7, 0, tzinfo=bucharest)
    early = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # 05:00 local
    assert quiet_until(early, night, bucharest) == datetime(2026, 12, 3, 7, 0, tzinfo=bucharest)
    day = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert quiet_until(day, night, bucharest) is None
    assert quiet_until(at, None, bucharest) is None
    assert quiet_until(at, QuietHours(600, 600), bucharest) is None
    lunch = QuietHours(12 * 60, 13 * 60)
    noon = datetime(2026, 12, 3, 12, 15, tzinfo=UTC)
    assert quiet_until(noon, lunch, zone("UTC")) == datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
    assert zone("Not/AZone") == ZoneInfo("UTC")
