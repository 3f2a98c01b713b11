"""What each document shows: plain frozen values that storage fills and the templates read.

Everything a page prints is in these values and nothing else (no clock, no lookups), so the same
values give the same HTML and, rendered, the same PDF bytes; `digest` names those values.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

import orjson

# The templates' version: part of every digest, so a template change gives new documents
# instead of serving PDFs rendered from the old templates.
TEMPLATE_VERSION = "v1"


class Kind(StrEnum):
    SESSION_REPORT = "session_report"
    APPOINTMENT_SUMMARY = "appointment_summary"
    HANDOUT = "handout"
    SIGNED_FORM = "signed_form"
    INVOICE = "invoice"


@dataclass(frozen=True, slots=True)
class Letterhead:
    """The clinic's heading on every page: its name and, when set, address, phone and the text
    of the page footer."""

    clinic_name: str
    address: str | None = None
    phone: str | None = None
    footer: str | None = None


# --- telerehab session report ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RomPoint:
    at: datetime
    degrees: float


@dataclass(frozen=True, slots=True)
class RomSeries:
    """One exercise's range of motion (mean angle, degrees) over the patient's sessions."""

    label: str
    points: tuple[RomPoint, ...]


@dataclass(frozen=True, slots=True)
class ExerciseDone:
    name: str
    sets_target: int
    reps_target: int
    sets_done: int
    reps_done: int
    duration_s: int
    rom_min_deg: float | None = None
    rom_mean_deg: float | None = None
    rom_max_deg: float | None = None
    pain: int | None = None


@dataclass(frozen=True, slots=True)
class SessionReport:
    KIND: ClassVar[Kind] = Kind.SESSION_REPORT
    TITLE: ClassVar[str] = "Telerehab session report"

    patient_name: str
    plan_name: str
    session_name: str
    status: str  # completed | partial
    source: str  # telerehab | manual
    started_at: datetime
    completed_at: datetime
    duration_s: int
    exercises: tuple[ExerciseDone, ...]
    pain: int | None = None  # the post-session questionnaire, 0-10, when answered
    difficulty: int | None = None
    note: str | None = None
    rom: tuple[RomSeries, ...] = ()

    @property
    def as_of(self) -> datetime:
        return self.completed_at


# --- appointment summary ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Note:
    author_name: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AppointmentSummary:
    KIND: ClassVar[Kind] = Kind.APPOINTMENT_SUMMARY
    TITLE: ClassVar[str] = "Appointment summary"

    patient_name: str
    specialist_name: str
    service_name: str
    modality: str
    starts_at: datetime
    ends_at: datetime
    status: str
    updated_at: datetime
    notes: tuple[Note, ...] = ()
    with_notes: bool = True  # False: the patient's copy, without the care team's notes

    @property
    def as_of(self) -> datetime:
        return max([self.updated_at, *(n.updated_at for n in self.notes)])


# --- home programme handout ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandoutExercise:
    name: str
    sets: int
    reps: int
    rest_s: int
    hold_s: int = 0
    notes: str = ""
    description: str = ""
    instructions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HandoutSession:
    name: str
    exercises: tuple[HandoutExercise, ...]


@dataclass(frozen=True, slots=True)
class Handout:
    KIND: ClassVar[Kind] = Kind.HANDOUT
    TITLE: ClassVar[str] = "Home exercise programme"

    plan_name: str
    plan_description: str
    version: int
    published_at: datetime
    sessions: tuple[HandoutSession, ...]
    patient_name: str | None = None  # a patient's own (custom) plan names them

    @property
    def as_of(self) -> datetime:
        return self.published_at


# --- signed form -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    value: str  # as printed; empty when not answered


@dataclass(frozen=True, slots=True)
class Signature:
    signer_name: str
    signed_at: datetime
    method: str  # typed | drawn
    image_png: bytes | None = None  # a drawn signature
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class SignedForm:
    KIND: ClassVar[Kind] = Kind.SIGNED_FORM
    TITLE: ClassVar[str] = "Signed form"

    patient_name: str
    form_name: str
    form_version: int
    answers: tuple[Answer, ...]
    signature: Signature

    @property
    def as_of(self) -> datetime:
        return self.signature.signed_at


# --- invoice (storage/billing) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One printed line; amounts already formatted in the invoice's currency (pure strings:
    the arithmetic is pipelines/billing's and was done before)."""

    description: str
    service_code: str | None
    quantity: int
    unit_price: str
    tax_rate: str  # "19 %"
    net: str
    tax: str
    gross: str


@dataclass(frozen=True, slots=True)
class Invoice:
    KIND: ClassVar[Kind] = Kind.INVOICE
    TITLE: ClassVar[str] = "Invoice"

    number: str
    kind: str  # invoice | credit_note
    credited_number: str | None
    patient_name: str
    currency: str
    issued_at: datetime
    due_on: str | None
    lines: tuple[InvoiceLine, ...]
    subtotal: str
    tax: str
    total: str

    @property
    def as_of(self) -> datetime:
        return self.issued_at


Body = SessionReport | AppointmentSummary | Handout | SignedForm | Invoice


@dataclass(frozen=True, slots=True)
class Document:
    """One document to render: its content, the clinic's letterhead, and the time zone its
    instants are printed in."""

    body: Body
    letterhead: Letterhead
    timezone: str = "UTC"
    template_version: str = field(default=TEMPLATE_VERSION)

    @property
    def kind(self) -> Kind:
        return self.body.KIND


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not serializable: {type(value).__name__}")


def digest(document: Document) -> str:
    """The hex sha256 of everything the document prints (its inputs), its kind and template
    version: equal digests, equal PDFs."""
    canonical = orjson.dumps(
        {"kind": document.kind.value, "document": document},
        default=_encode,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC,
    )
    return hashlib.sha256(canonical).hexdigest()
