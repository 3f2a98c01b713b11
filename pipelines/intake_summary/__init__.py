"""The intake summary a clinician reads first, behind an interface (`IntakeSummarizer`): the
default is local and deterministic (`LocalSummarizer`: red flags, high values, unanswered
required questions, the key answers); `summarizer(spec)` picks the configured one."""

from pipelines.intake_summary._local import LocalSummarizer
from pipelines.intake_summary._model import FilledForm, Flag, IntakeSummarizer, Question, Summary
from pipelines.intake_summary._select import DEFAULT, summarizer

__all__ = [
    "DEFAULT",
    "FilledForm",
    "Flag",
    "IntakeSummarizer",
    "LocalSummarizer",
    "Question",
    "Summary",
    "summarizer",
]
