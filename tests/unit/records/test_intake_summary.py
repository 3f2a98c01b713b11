"""The default intake summary: deterministic flags and text, and how a deployment picks another
summarizer."""

from __future__ import annotations

import pytest

from pipelines.intake_summary import (
    FilledForm,
    Flag,
    IntakeSummarizer,
    LocalSummarizer,
    Question,
    Summary,
    summarizer,
)

QUESTIONS = (
    Question("pain", "Pain now", "scale", required=True, min=0, max=10),
    Question("chest_pain", "Chest pain on effort", "yes_no", required=True, red_flag=True),
    Question("dizzy", "Dizziness", "yes_no", red_flag=True),
    Question("weight", "Weight", "number", alert_at=150),
    Question("side", "Side", "choice", options=("left", "right")),
    Question("meds", "Medication", "text", required=True),
    Question("notes", "Anything else", "text"),
    Question("consent", "I agree", "signature", required=True),
)


def _form(answers: dict[str, object], signed: bool = False) -> FilledForm:
    return FilledForm("Knee intake", QUESTIONS, answers, signed)


def test_red_flags_high_values_and_unanswered_required_questions() -> None:
    summary = LocalSummarizer().summarize(
        _form({"pain": 8, "chest_pain": True, "dizzy": False, "weight": 151.0, "side": "left"})
    )
    assert summary.flags == (
        Flag("pain", "Pain now", "high", 8),
        Flag("chest_pain", "Chest pain on effort", "red_flag", True),
        Flag("weight", "Weight", "high", 151.0),
        Flag("meds", "Medication", "unanswered"),
        Flag("consent", "I agree", "unanswered"),
    )
    assert (summary.answered, summary.total, summary.summarizer) == (5, 8, "local")
    assert summary.text == (
        "Knee intake: 5 of 8 questions answered. "
        "Red flags: Chest pain on effort: yes. "
        "High values: Pain now: 8/10; Weight: 151. "
        "Unanswered required: Medication; I agree. "
        "Answers: Pain now: 8/10; Chest pain on effort: yes; Dizziness: no; Weight: 151; "
        "Side: left."
    )


def test_below_the_threshold_nothing_is_flagged_and_a_signature_answers_its_question() -> None:
    summary = LocalSummarizer().summarize(
        _form({"pain": 6, "chest_pain": False, "weight": 80, "meds": "none"}, signed=True)
    )
    assert summary.flags == ()
    assert summary.answered == 5 and "I agree: signed" in summary.text


def test_the_scale_threshold_follows_the_range_and_the_ratio() -> None:
    q = Question("effort", "Effort", "scale", min=1, max=5)
    form = FilledForm("Borg", (q,), {"effort": 4})
    # 70 % of the way from 1 to 5 is 3.8: 4 is high; at 90 % (4.6) it is not.
    assert LocalSummarizer().summarize(form).flags == (Flag("effort", "Effort", "high", 4),)
    assert LocalSummarizer(scale_ratio=0.9).summarize(form).flags == ()


def test_the_same_form_gives_the_same_summary_and_long_text_is_shortened() -> None:
    long = "word " * 100
    form = _form({"notes": long, "meds": "  ", "pain": 0})
    first, second = LocalSummarizer().summarize(form), LocalSummarizer().summarize(form)
    assert first == second
    assert "Anything else: " + "word " * 15 in first.text and "…" in first.text
    assert Flag("meds", "Medication", "unanswered") in first.flags  # blank is unanswered
    assert first.as_dict()["flags"][0] == {
        "key": "chest_pain", "label": "Chest pain on effort", "reason": "unanswered",
        "value": None,
    }  # fmt: skip


class Echo:
    """Another summarizer a deployment could name (the interface, implemented here)."""

    name = "echo"

    def summarize(self, form: FilledForm) -> Summary:
        return Summary((), form.name, 0, len(form.questions), self.name)


def test_a_deployment_names_its_summarizer() -> None:
    assert isinstance(summarizer(), LocalSummarizer)
    assert isinstance(summarizer(" local "), LocalSummarizer)
    chosen: IntakeSummarizer = summarizer(f"{__name__}:Echo")
    assert chosen.name == "echo" and chosen.summarize(_form({})).text == "Knee intake"
    for bad in ("nope", "no.such.module:X", f"{__name__}:Missing", f"{__name__}:QUESTIONS"):
        with pytest.raises(ValueError, match="intake summarizer"):
            summarizer(bad)
