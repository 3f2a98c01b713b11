"""What an intake summary reads and gives, and the interface every summarizer implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Question:
    """A field of the form as its version froze it."""

    key: str
    label: str
    type: str  # text | number | choice | date | scale | yes_no | signature
    required: bool = False
    options: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    red_flag: bool = False  # a "yes" needs the clinician's attention
    alert_at: float | None = None  # a value at or above this needs it

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Question:
        options = data.get("options")
        return cls(
            key=str(data["key"]),
            label=str(data["label"]),
            type=str(data["type"]),
            required=bool(data.get("required", False)),
            options=None if options is None else tuple(options),
            min=data.get("min"),
            max=data.get("max"),
            red_flag=bool(data.get("red_flag", False)),
            alert_at=data.get("alert_at"),
        )


@dataclass(frozen=True, slots=True)
class FilledForm:
    """A form with its answers (keys of `questions`); `signed`: it carries a signature."""

    name: str
    questions: tuple[Question, ...]
    answers: Mapping[str, Any] = field(default_factory=dict)
    signed: bool = False


@dataclass(frozen=True, slots=True)
class Flag:
    """One thing the clinician should look at: `reason` is `red_flag` (a yes to a red-flag
    question), `high` (at or above the question's threshold) or `unanswered` (required)."""

    key: str
    label: str
    reason: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Summary:
    flags: tuple[Flag, ...]
    text: str
    answered: int  # questions answered (signature questions count when signed)
    total: int
    summarizer: str  # which implementation wrote it

    def as_dict(self) -> dict[str, Any]:
        return {
            "flags": [
                {"key": f.key, "label": f.label, "reason": f.reason, "value": f.value}
                for f in self.flags
            ],
            "text": self.text,
            "answered": self.answered,
            "total": self.total,
            "summarizer": self.summarizer,
        }


class IntakeSummarizer(Protocol):
    """Turns a filled form into what a clinician reads first. An implementation is pure or does
    its own I/O off the caller's event loop; the default is local and deterministic."""

    @property
    def name(self) -> str: ...

    def summarize(self, form: FilledForm) -> Summary: ...
