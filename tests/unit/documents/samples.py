"""One document of each kind, with the awkward values a clinic really has (markup in free text,
diacritics, long notes), for the unit tests and the renderer tests."""

from __future__ import annotations

import math
import struct
import zlib
from datetime import UTC, datetime, timedelta

from pipelines.documents import (
    Answer,
    AppointmentSummary,
    Document,
    ExerciseDone,
    Handout,
    HandoutExercise,
    HandoutSession,
    Invoice,
    InvoiceLine,
    Letterhead,
    Note,
    RomPoint,
    RomSeries,
    SessionReport,
    Signature,
    SignedForm,
)

LETTERHEAD = Letterhead(
    clinic_name="Clinica Mișcarea",
    address="Str. Exemplu 12, Cluj-Napoca",
    phone="+40 264 000 000",
    footer="Clinica Mișcarea · CUI 12345678 · confidential medical document",
)
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _scribble_png(width: int = 240, height: int = 60) -> bytes:
    """A drawn signature as a pad would send it: a dark wave on white, as an 8-bit grey PNG."""
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter: none
        for x in range(width):
            wave = height / 2 + (height / 3) * math.sin(x / 14) * math.cos(x / 41)
            row.append(20 if abs(y - wave) < 2.2 else 255)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


PNG = _scribble_png()


def session_report() -> Document:
    days = [AT - timedelta(days=7 * n) for n in range(5, -1, -1)]
    return Document(
        SessionReport(
            patient_name="Ana <b>Pop</b>",
            plan_name="Knee rehab (post-op)",
            session_name="Session 2",
            status="completed",
            source="telerehab",
            started_at=AT - timedelta(minutes=22),
            completed_at=AT,
            duration_s=22 * 60,
            exercises=(
                ExerciseDone("Squat", 3, 10, 3, 30, 600, 62.0, 88.5, 101.0, 2),
                ExerciseDone("Straight leg raise", 2, 12, 2, 20, 300, 20.0, 35.0, 41.0),
            ),
            pain=3,
            difficulty=5,
            note="Knee felt <stiff> in the morning & better after.",
            rom=(
                RomSeries("Squat", tuple(RomPoint(d, 58.5 + 6 * i) for i, d in enumerate(days))),
                RomSeries(
                    "Straight leg raise",
                    tuple(RomPoint(d, 29 + 2 * i) for i, d in enumerate(days[2:])),
                ),
            ),
        ),
        LETTERHEAD,
        "Europe/Bucharest",
    )


def appointment_summary(with_notes: bool = True) -> Document:
    return Document(
        AppointmentSummary(
            patient_name="Ana Pop",
            specialist_name="Dr. Ioana Marin",
            service_name="Physiotherapy assessment",
            modality="in_clinic",
            starts_at=AT,
            ends_at=AT + timedelta(minutes=45),
            status="completed",
            updated_at=AT + timedelta(hours=1),
            notes=(
                Note(
                    "Dr. Ioana Marin",
                    "Flexion 95°, extension −5°.\nPlan: progress to step-ups next week.",
                    AT + timedelta(minutes=50),
                    AT + timedelta(minutes=55),
                ),
            )
            if with_notes
            else (),
            with_notes=with_notes,
        ),
        LETTERHEAD,
        "Europe/Bucharest",
    )


def handout() -> Document:
    return Document(
        Handout(
            plan_name="Knee rehab (post-op)",
            plan_description="Twice a day, stop if pain goes above 5/10.",
            version=3,
            published_at=AT,
            sessions=(
                HandoutSession(
                    "Session 1",
                    (
                        HandoutExercise(
                            "Squat", 3, 10, 60, 0, "Keep the heels down.",
                            "A partial squat to a chair.",
                            ("Stand with feet hip-width apart.", "Sit back slowly.", "Stand up."),
                        ),
                        HandoutExercise("Straight leg raise", 2, 12, 30, 5),
                    ),
                ),
            ),
            patient_name="Ana Pop",
        ),
        LETTERHEAD,
        "Europe/Bucharest",
    )  # fmt: skip


def signed_form(drawn: bool = False) -> Document:
    return Document(
        SignedForm(
            patient_name="Ana Pop",
            form_name="Consent to treatment",
            form_version=2,
            answers=(
                Answer("Do you have a pacemaker?", "No"),
                Answer("Current medication", "Ibuprofen 400 mg <as needed>"),
                Answer("Pain today (0-10)", "4"),
                Answer("Optional remarks", ""),
            ),
            signature=Signature(
                "Ana Pop",
                AT,
                "drawn" if drawn else "typed",
                PNG if drawn else None,
                "203.0.113.7",
                "Mozilla/5.0 (iPhone)",
            ),
        ),
        LETTERHEAD,
        "Europe/Bucharest",
    )


def invoice() -> Document:
    line = InvoiceLine(
        "Ședință de kinetoterapie <b>", "97110", 3, "150.00", "19 %", "450.00", "85.50", "535.50"
    )
    return Document(
        Invoice(
            number="2026-000123",
            kind="invoice",
            credited_number=None,
            patient_name="Ana Pop",
            currency="RON",
            issued_at=AT,
            due_on="2026-12-31",
            lines=(line,),
            subtotal="450.00",
            tax="85.50",
            total="535.50",
        ),
        LETTERHEAD,
        "Europe/Bucharest",
    )


def every_kind() -> list[Document]:
    return [
        session_report(),
        appointment_summary(),
        handout(),
        signed_form(drawn=True),
        invoice(),
    ]
