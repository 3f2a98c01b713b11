"""The renderer: each kind of document as a PDF read back with poppler (text and a page image),
byte-identical PDFs for the same inputs (in one worker and across worker pools), a bounded
number of renders in flight, and one render shared by concurrent requests for the same one."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

import pytest

from actors.documents import Renderer, RendererBusy, RendererOptions
from pipelines.documents import Document, Handout, HandoutExercise, HandoutSession
from tests.integration.records.documents.conftest import pdf_png, pdf_text
from tests.unit.documents import samples

# What each kind must say, as pdftotext reads it (single spaces: -layout pads columns).
EXPECTED = {
    "invoice": [
        "Invoice", "2026-000123", "Ana Pop", "97110", "535.50", "Ședință de kinetoterapie <b>",
    ],
    "session_report": [
        "Telerehab session report", "Ana <b>Pop</b>", "Squat", "Straight leg raise",
        "62° / 88° / 101°", "Range of motion over past sessions", "Pain 3 / 10",
        "Difficulty 5 / 10", "Knee felt <stiff> in the morning & better after.",
    ],
    "appointment_summary": [
        "Appointment summary", "Dr. Ioana Marin", "Physiotherapy assessment (in clinic)",
        "20 Nov 2026, 11:30 – 20 Nov 2026, 12:15 (Europe/Bucharest)", "Clinician's notes",
        "Plan: progress to step-ups next week.",
    ],
    "handout": [
        "Home exercise programme", "Prepared for Ana Pop", "How to do each exercise",
        "3 sets of 10 reps, rest 60 s between sets", "Sit back slowly.",
        "2 sets of 12 reps, hold 5 s, rest 30 s between sets",
    ],
    "signed_form": [
        "Signed form", "Consent to treatment · version 2", "Do you have a pacemaker? No",
        "Ibuprofen 400 mg <as needed>", "Drawn signature", "203.0.113.7",
    ],
}  # fmt: skip
LETTERHEAD = ["Clinica Mișcarea", "Str. Exemplu 12, Cluj-Napoca", "Tel. +40 264 000 000",
              "confidential medical document", "Page 1 of 1"]  # fmt: skip


def _squeezed(text: str) -> str:
    return " ".join(text.split())


async def test_every_kind_renders_and_reads_back(tmp_path: Path) -> None:
    renderer = Renderer(RendererOptions(workers=1))
    await renderer.start()
    try:
        for document in samples.every_kind():
            pdf = await renderer.render(document)
            assert pdf.data.startswith(b"%PDF-")
            assert pdf.sha256 == hashlib.sha256(pdf.data).hexdigest()
            text = _squeezed(pdf_text(pdf.data, tmp_path))
            for expected in [*EXPECTED[document.kind.value], *LETTERHEAD]:
                assert expected in text, (document.kind.value, expected, text)
            page = pdf_png(pdf.data, tmp_path, document.kind.value)
            image = page.read_bytes()
            assert image.startswith(b"\x89PNG") and len(image) > 5_000, document.kind.value
        typed = await renderer.render(samples.signed_form(drawn=False))
        assert "Typed name" in _squeezed(pdf_text(typed.data, tmp_path))
        mine = await renderer.render(samples.appointment_summary(with_notes=False))
        text = _squeezed(pdf_text(mine.data, tmp_path))
        assert "Dr. Ioana Marin" in text and "notes" not in text.lower()
    finally:
        await renderer.close()


async def test_the_same_inputs_give_the_same_bytes() -> None:
    first, second = Renderer(), Renderer()
    await first.start()
    await second.start()
    try:
        document = samples.session_report()
        a = await first.render(document)
        await asyncio.sleep(1.1)  # a clock second later: no date may come from the clock
        b = await first.render(document)
        c = await second.render(samples.session_report())  # another process, an equal document
        assert a.sha256 == b.sha256 == c.sha256
        assert a.data == c.data
        other = await first.render(dataclasses.replace(document, timezone="UTC"))
        assert other.sha256 != a.sha256
    finally:
        await first.close()
        await second.close()


def _long_handout(sessions: int = 3) -> Document:
    """A long plan (several pages): a render that takes a while."""
    exercise = HandoutExercise(
        "Squat", 3, 10, 60, 2, "Keep the heels down.", "A partial squat to a chair.",
        tuple(f"Step {n}: move slowly and breathe." for n in range(8)),
    )  # fmt: skip
    body = Handout(
        "Long plan", "", 1, samples.AT,
        tuple(HandoutSession(f"Session {i + 1}", (exercise,) * 30) for i in range(sessions)),
    )  # fmt: skip
    return Document(body, samples.LETTERHEAD)


async def test_a_full_renderer_refuses_at_once_instead_of_queueing() -> None:
    renderer = Renderer(RendererOptions(workers=1, max_in_flight=1))
    await renderer.start(warm=False)
    try:
        busy = asyncio.create_task(renderer.render(_long_handout()))
        await asyncio.sleep(0)
        assert renderer.in_flight == 1
        with pytest.raises(RendererBusy) as refused:
            await renderer.render(samples.handout())
        assert refused.value.code == "unavailable" and refused.value.retry_after_s >= 1
        # The same document as the one in flight is not refused: it waits for that render.
        joined = await renderer.render(_long_handout())
        assert joined.data == (await busy).data
        assert renderer.in_flight == 0
        assert (await renderer.render(samples.handout())).data.startswith(b"%PDF-")
    finally:
        await renderer.close()
