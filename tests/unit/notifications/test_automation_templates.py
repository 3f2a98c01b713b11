"""Automation messages' named templates: `automation_message:<name>` has the placeholders and
the built-in wording of `automation_message`; any other name shape is no kind at all."""

from __future__ import annotations

import pytest

from actors.notifications import templates


def test_a_named_automation_kind_is_an_automation_message() -> None:
    assert templates.base_kind("automation_message:we_miss_you") == "automation_message"
    assert templates.base_kind("automation_message") == "automation_message"
    assert templates.base_kind("appointment_reminder") == "appointment_reminder"
    assert templates.named_kind("we_miss_you") == "automation_message:we_miss_you"
    longest = "automation_message:a" + "b" * 39
    assert templates.base_kind(longest) == "automation_message" and len(longest) <= 64


@pytest.mark.parametrize(
    "kind",
    [
        "automation_message:",
        "automation_message:We_Miss",
        "automation_message:1st",
        "automation_message:a-b",
        "automation_message:a:b",
        "automation_message:a" + "b" * 40,
        "appointment_reminder:x",
        "nonsense",
    ],
)
def test_other_shapes_are_no_kind(kind: str) -> None:
    assert templates.base_kind(kind) is None
    assert templates.unknown_placeholders(kind, "{clinic}") == {"clinic"}
    with pytest.raises(KeyError):
        templates.builtin(kind, "sms", "en")


def test_a_named_template_may_use_the_automation_placeholders_only() -> None:
    kind = "automation_message:we_miss_you"
    assert templates.unknown_placeholders(kind, "{clinic}", "{patient_name} {{x}}") == set()
    assert templates.unknown_placeholders(kind, "{date} {clinic} {link}") == {"date", "link"}
    assert templates.named_kind("No") is None


def test_a_named_template_falls_back_to_the_built_in_wording() -> None:
    for language, subject in (("en", "A message from X"), ("ro", "Un mesaj de la X")):
        text = templates.builtin("automation_message:we_miss_you", "email", language)
        assert text == templates.builtin("automation_message", "email", language)
        out = templates.render(text, {"clinic": "X", "patient_name": "Ana Pop"})
        assert out.subject == subject and "Ana Pop" in out.body
