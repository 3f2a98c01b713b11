"""What a field definition may say and what an answer to a field may be (storage.forms' pure
rules, shared by the staff routes and the public intake)."""

from __future__ import annotations

from typing import Any

import pytest

from storage.errors import Invalid
from storage.forms import Field, Signature, check_answers, check_field

FIELDS = [
    Field("pain", "Pain", "scale", required=True),  # 0-10 unless bounded
    Field("count", "Count", "number", min=0, max=5),
    Field("side", "Side", "choice", options=("left", "right")),
    Field("when", "When", "date", required=True),
    Field("ok", "OK", "yes_no"),
    Field("notes", "Notes", "text"),
    Field("sign", "Sign here", "signature", required=True),
]


def _fields_of(error: pytest.ExceptionInfo[Invalid]) -> dict[str, str]:
    return error.value.fields


def test_each_answer_must_suit_its_field() -> None:
    with pytest.raises(Invalid) as refused:
        check_answers(
            FIELDS,
            {"pain": 3.5, "count": True, "side": "Left", "when": "2026-02-30", "ok": 1,
             "notes": 5, "sign": "me", "extra": "x"},
            complete=False,
        )  # fmt: skip
    assert _fields_of(refused) == {
        "answers.pain": "must be a whole number",
        "answers.count": "must be a number",
        "answers.side": "must be one of the field's options",
        "answers.when": "must be a date (YYYY-MM-DD)",
        "answers.ok": "must be true or false",
        "answers.notes": "must be a text",
        "answers.sign": "is given by signing the form",
        "answers.extra": "is not a field of this form",
    }
    for key, value, message in (
        ("pain", 11, "must be at most 10"),
        ("count", -1, "must be at least 0"),
        ("count", float("nan"), "must be a number"),
        ("when", "20260101", "must be a date (YYYY-MM-DD)"),
        ("notes", "x" * 5001, "must be at most 5000 characters"),
    ):
        with pytest.raises(Invalid) as refused:
            check_answers(FIELDS, {key: value}, complete=False)
        assert _fields_of(refused) == {f"answers.{key}": message}, (key, value)


def test_a_draft_may_be_partial_a_submission_may_not() -> None:
    assert check_answers(FIELDS, {"pain": 2, "notes": "  ", "ok": None}, complete=False) == {
        "pain": 2
    }
    with pytest.raises(Invalid) as refused:
        check_answers(FIELDS, {"pain": 2}, complete=True)
    assert _fields_of(refused) == {
        "answers.when": "is required",
        "answers.sign": "is required: sign the form",
    }
    done = check_answers(FIELDS, {"pain": 0, "when": "2026-01-31"}, complete=True, signed=True)
    assert done == {"pain": 0, "when": "2026-01-31"}


@pytest.mark.parametrize(
    ("spec", "details"),
    [
        ({"key": "1x", "label": "X", "type": "text"}, {"key": "must be lower-case letters, "
                                                       "digits and _ (starting with a letter)"}),
        ({"key": "x", "label": " ", "type": "text"}, {"label": "must be 1 to 200 characters"}),
        ({"key": "x", "label": "X", "type": "colour"}, {"type": "must be one of text, number, "
                                                        "choice, date, scale, yes_no, signature"}),
        ({"key": "x", "label": "X", "type": "choice", "options": ["a", "a"]},
         {"options": "must not repeat"}),
        ({"key": "x", "label": "X", "type": "number", "min": "1"}, {"min": "must be a number"}),
    ],
)  # fmt: skip
def test_a_field_definition_is_checked_per_attribute(
    spec: dict[str, Any], details: dict[str, str]
) -> None:
    with pytest.raises(Invalid) as refused:
        check_field(spec)
    assert _fields_of(refused) == details


def test_a_scale_defaults_to_zero_to_ten() -> None:
    f = check_field({"key": "pain", "label": "Pain", "type": "scale"})
    assert (f.min, f.max) == (0.0, 10.0)
    assert Field.of(f.as_dict()) == f


def test_a_signature_is_a_name_and_for_a_drawn_one_a_png() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 10
    assert Signature(" Ana ", "typed").checked().signer_name == "Ana"
    assert Signature("Ana", "drawn", png).checked().image == png
    for signature, details in (
        (Signature("", "typed"), {"signature.signer_name": "must be 1 to 200 characters"}),
        (Signature("Ana", "drawn"), {"signature.image": "a drawn signature needs its image"}),
        (Signature("Ana", "drawn", b"GIF89a"), {"signature.image": "must be a PNG image"}),
        (Signature("Ana", "typed", png), {"signature.image": "is for drawn signatures only"}),
        (Signature("Ana", "stamp"), {"signature.method": "must be typed or drawn"}),
    ):
        with pytest.raises(Invalid) as refused:
            signature.checked()
        assert _fields_of(refused) == details
    assert "Ana" not in repr(Signature("Ana", "typed"))


def test_a_scale_bounded_on_one_side_keeps_the_default_other_side() -> None:
    f = check_field({"key": "effort", "label": "Effort", "type": "scale", "min": 1})
    assert (f.min, f.max) == (1.0, 10.0)
    with pytest.raises(Invalid) as refused:
        check_field({"key": "effort", "label": "Effort", "type": "scale", "min": 12})
    assert _fields_of(refused) == {"max": "must not be below min"}
