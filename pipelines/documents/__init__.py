"""Documents as HTML, pure: the telerehab session report (with its range-of-motion chart), the
appointment summary, the home programme handout and the signed form, from versioned Jinja2
templates with the clinic's letterhead and footer. No I/O: storage fills the values, the
renderer (actors/documents) turns the HTML into a PDF.

The same `Document` gives the same HTML, and its `digest` names it (content, kind and template
version): the key under which a rendered PDF is found again.
"""

from pipelines.documents._chart import rom_chart
from pipelines.documents._html import build_html
from pipelines.documents._model import (
    TEMPLATE_VERSION,
    Answer,
    AppointmentSummary,
    Body,
    Document,
    ExerciseDone,
    Handout,
    HandoutExercise,
    HandoutSession,
    Invoice,
    InvoiceLine,
    Kind,
    Letterhead,
    Note,
    RomPoint,
    RomSeries,
    SessionReport,
    Signature,
    SignedForm,
    digest,
)

__all__ = [
    "TEMPLATE_VERSION",
    "Answer",
    "AppointmentSummary",
    "Body",
    "Document",
    "ExerciseDone",
    "Handout",
    "HandoutExercise",
    "HandoutSession",
    "Invoice",
    "InvoiceLine",
    "Kind",
    "Letterhead",
    "Note",
    "RomPoint",
    "RomSeries",
    "SessionReport",
    "Signature",
    "SignedForm",
    "build_html",
    "digest",
    "rom_chart",
]
