"""Documents as HTML: the letterhead and footer on every kind, autoescaped values, times in the
clinic's zone, dates for the PDF taken from the content, and a digest of the inputs."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pipelines.documents import (
    Document,
    Handout,
    Kind,
    Letterhead,
    SessionReport,
    SignedForm,
    build_html,
    digest,
)
from tests.unit.documents import samples


@pytest.mark.parametrize("document", samples.every_kind(), ids=lambda d: d.kind.value)
def test_every_kind_has_the_letterhead_footer_and_page_numbers(document: Document) -> None:
    html = build_html(document)
    assert "Clinica Mișcarea" in html
    assert "Str. Exemplu 12, Cluj-Napoca" in html and "Tel. +40 264 000 000" in html
    assert "confidential medical document" in html
    assert 'counter(page) " of " counter(pages)' in html
    assert f"<h1>{document.body.TITLE}</h1>" in html


def test_a_letterhead_without_address_or_phone_prints_the_name_alone() -> None:
    document = dataclasses.replace(samples.handout(), letterhead=Letterhead("Small Clinic"))
    html = build_html(document)
    assert "Tel." not in html
    assert '<div class="footer">Small Clinic</div>' in html  # the footer falls back to the name


def test_values_are_escaped() -> None:
    html = build_html(samples.session_report())
    assert "<b>Pop</b>" not in html
    assert "Ana &lt;b&gt;Pop&lt;/b&gt;" in html
    assert "Knee felt &lt;stiff&gt; in the morning &amp; better after." in html
    assert "<svg" in html  # the chart is the one markup inserted as such


def test_times_are_printed_in_the_clinic_zone_and_the_pdf_dates_are_the_content_s() -> None:
    html = build_html(samples.session_report())
    # 09:30 UTC is 11:30 in Bucharest in November
    assert "20 Nov 2026, 11:08 – 20 Nov 2026, 11:30 (Europe/Bucharest)" in html
    assert '<meta name="dcterms.created" content="2026-11-20T09:30:00Z">' in html
    assert '<meta name="dcterms.modified" content="2026-11-20T09:30:00Z">' in html


def test_an_unknown_zone_prints_utc() -> None:
    html = build_html(dataclasses.replace(samples.session_report(), timezone="Mars/Olympus"))
    assert "20 Nov 2026, 09:30" in html


def test_the_session_report_lists_exercises_chart_and_answers() -> None:
    html = build_html(samples.session_report())
    for text in ("Squat", "Straight leg raise", "3 / 3", "30 / 30", "62° / 88° / 101°"):
        assert text in html
    assert "<dt>Pain</dt><dd>3 / 10</dd>" in html
    assert "<dt>Difficulty</dt><dd>5 / 10</dd>" in html


def test_the_patient_s_appointment_summary_has_no_notes() -> None:
    staff = build_html(samples.appointment_summary())
    assert "Clinician's notes" in staff and "progress to step-ups" in staff
    patient = build_html(samples.appointment_summary(with_notes=False))
    assert "notes" not in patient.lower().split("<body>")[1]


def test_the_handout_says_the_dose_and_steps() -> None:
    html = build_html(samples.handout())
    text = re.sub(r"\s+", " ", html)
    assert "3 sets of 10 reps, rest 60 s between sets" in text
    assert "2 sets of 12 reps, hold 5 s, rest 30 s between sets" in text
    assert "<li>Sit back slowly.</li>" in html
    assert "Prepared for</dt><dd>Ana Pop" in html


def test_a_drawn_signature_is_embedded_and_a_typed_one_is_written() -> None:
    drawn = build_html(samples.signed_form(drawn=True))
    assert 'src="data:image/png;base64,' in drawn
    typed = build_html(samples.signed_form(drawn=False))
    assert "data:image/png" not in typed
    assert '<div class="typed">Ana Pop</div>' in typed
    assert "Ibuprofen 400 mg &lt;as needed&gt;" in typed
    assert "203.0.113.7" in typed


def test_the_digest_names_the_inputs_and_the_template_version() -> None:
    a, b = samples.session_report(), samples.session_report()
    assert digest(a) == digest(b)
    assert re.fullmatch(r"[0-9a-f]{64}", digest(a))
    assert digest(dataclasses.replace(a, template_version="v2")) != digest(a)
    assert digest(dataclasses.replace(a, timezone="UTC")) != digest(a)
    assert isinstance(a.body, SessionReport)
    body = dataclasses.replace(a.body, pain=4)
    assert digest(dataclasses.replace(a, body=body)) != digest(a)
    drawn = samples.signed_form(drawn=True)
    assert isinstance(drawn.body, SignedForm)
    other = dataclasses.replace(
        drawn.body, signature=dataclasses.replace(drawn.body.signature, image_png=b"\x89PNGx")
    )
    assert digest(dataclasses.replace(drawn, body=other)) != digest(drawn)
    assert {d.kind for d in samples.every_kind()} == set(Kind)


def test_the_handout_describes_each_exercise_once() -> None:
    document = samples.handout()
    assert isinstance(document.body, Handout)
    twice = dataclasses.replace(document.body, sessions=document.body.sessions * 2)
    html = build_html(dataclasses.replace(document, body=twice))
    assert html.count("<h3>Squat</h3>") == 1
    assert html.count("<td>Squat</td>") == 2  # but dosed in both sessions
    assert "Your clinician will show you this exercise." in html  # no description, no steps
