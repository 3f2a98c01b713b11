"""The default summary: local and deterministic (no external service is reachable), the same
form giving the same summary, word for word.

Flags, in the form's order: a "yes" to a red-flag question; a number or scale value at or above
its question's threshold (`alert_at`; for a scale without one, `scale_ratio` of its range,
7 on 0-10); a required question left unanswered. The text says how much was answered, the
flags, then the key answers (free text shortened)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.intake_summary._model import FilledForm, Flag, Question, Summary

DEFAULT_SCALE = (0.0, 10.0)


def _shown(q: Question, value: Any, limit: int) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if q.type == "scale":
        high = q.max if q.max is not None else DEFAULT_SCALE[1]
        return f"{value}/{high:g}"
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class LocalSummarizer:
    name: str = "local"
    scale_ratio: float = 0.7
    max_key_answers: int = 12
    max_answer_chars: int = 80

    def threshold(self, q: Question) -> float | None:
        if q.alert_at is not None:
            return q.alert_at
        if q.type == "scale":
            low = q.min if q.min is not None else DEFAULT_SCALE[0]
            high = q.max if q.max is not None else DEFAULT_SCALE[1]
            return low + self.scale_ratio * (high - low)
        return None

    def summarize(self, form: FilledForm) -> Summary:
        flags: list[Flag] = []
        answered: list[tuple[Question, Any]] = []
        for q in form.questions:
            if q.type == "signature":
                if form.signed:
                    answered.append((q, "signed"))
                elif q.required:
                    flags.append(Flag(q.key, q.label, "unanswered"))
                continue
            value = form.answers.get(q.key)
            if value is None or (isinstance(value, str) and not value.strip()):
                if q.required:
                    flags.append(Flag(q.key, q.label, "unanswered"))
                continue
            answered.append((q, value))
            if q.type == "yes_no" and q.red_flag and value is True:
                flags.append(Flag(q.key, q.label, "red_flag", value))
            limit = self.threshold(q) if q.type in ("number", "scale") else None
            if limit is not None and isinstance(value, int | float) and value >= limit:
                flags.append(Flag(q.key, q.label, "high", value))
        total = len(form.questions)
        parts = [f"{form.name}: {len(answered)} of {total} questions answered."]
        by_key = {q.key: q for q in form.questions}
        for reason, title in (
            ("red_flag", "Red flags"),
            ("high", "High values"),
            ("unanswered", "Unanswered required"),
        ):
            chosen = [f for f in flags if f.reason == reason]
            if not chosen:
                continue
            if reason == "unanswered":
                items = [f.label for f in chosen]
            else:
                items = [
                    f"{f.label}: {_shown(by_key[f.key], f.value, self.max_answer_chars)}"
                    for f in chosen
                ]
            parts.append(f"{title}: " + "; ".join(items) + ".")
        key_answers = [
            f"{q.label}: {_shown(q, v, self.max_answer_chars)}"
            for q, v in answered[: self.max_key_answers]
        ]
        if key_answers:
            more = len(answered) - len(key_answers)
            tail = f" (and {more} more)" if more > 0 else ""
            parts.append("Answers: " + "; ".join(key_answers) + tail + ".")
        return Summary(tuple(flags), " ".join(parts), len(answered), total, self.name)
