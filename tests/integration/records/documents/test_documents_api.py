"""GET .../document for each kind, through the renderer and the blob store: a short-lived link
to a PDF that says what the records say, rendered once per inputs (a repeat finds the stored
one, a change renders anew), and only for the patient's clinical viewers and the patient."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path
from typing import Any

from server.resources import DB_KEY
from tests.integration.records.documents.conftest import World, pdf_text
from tests.unit.documents.samples import PNG


def _text(pdf: bytes, tmp: Path) -> str:
    return " ".join(pdf_text(pdf, tmp).split())


async def _rows(world: World) -> list[dict[str, Any]]:
    async with world.client.app[DB_KEY].platform() as conn:
        found = await conn.fetch(
            "SELECT kind, subject_id, patient_id, sha256, template_version FROM documents"
            " WHERE organization_id = $1 ORDER BY rendered_at",
            world.clinic.org_id,
        )
    return [dict(r.items()) for r in found]


async def _audited(world: World, action: str) -> int:
    async with world.client.app[DB_KEY].platform() as conn:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE organization_id = $1 AND action = $2",
            world.clinic.org_id,
            action,
        )
    return found


async def test_a_session_report_is_a_link_to_its_pdf_rendered_once(
    world: World, tmp_path: Path
) -> None:
    path = f"/v1/session-completions/{world.completions[-1]}/document"
    status, link, _ = await world.get(path, "patient0")
    assert status == 200, link
    assert set(link) == {"url", "expires_at", "sha256", "content_type"}
    assert link["content_type"] == "application/pdf"
    pdf = await world.download(link["url"])
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == link["sha256"]
    text = _text(pdf, tmp_path)
    for expected in (
        "Clinica Mișcarea", "Telerehab session report", "Test Patient0", "Squat", "Heel",
        "30 / 30", "70° / 80° / 88°", "Range of motion over past sessions", "Pain 3 / 10",
        "Difficulty 6 / 10", "Stiff <knee> in the morning", "(Europe/Bucharest)", "Page 1 of 1",
    ):  # fmt: skip
        assert expected in text, (expected, text)

    # Asked again, by someone else allowed to: the same stored PDF, nothing rendered again.
    status, again, _ = await world.get(path, "specialist")
    assert status == 200 and again["sha256"] == link["sha256"], again
    rows = await _rows(world)
    assert [(r["kind"], str(r["subject_id"])) for r in rows] == [
        ("session_report", world.completions[-1])
    ]
    assert rows[0]["patient_id"] == world.clinic.patients[0]
    assert rows[0]["template_version"] == "v1"
    assert await _audited(world, "document.render") == 1

    # An earlier session's report charts only the sessions up to it: a different document.
    status, earlier, _ = await world.get(
        f"/v1/session-completions/{world.completions[0]}/document", "admin"
    )
    assert status == 200 and earlier["sha256"] != link["sha256"]
    text = _text(await world.download(earlier["url"]), tmp_path)
    assert "The post-session questionnaire was not answered." in text


async def test_documents_are_for_the_patient_and_their_clinical_viewers_only(
    world: World,
) -> None:
    completion = world.completions[-1]
    path = f"/v1/session-completions/{completion}/document"
    for who in ("patient1",):
        status, answer, _ = await world.get(path, who)
        assert status == 404 and answer["error"]["code"] == "not_found", (who, answer)
    status, answer, _ = await world.get(path, "receptionist")
    assert status == 403, answer
    versions = f"/v1/treatment-plans/{world.plan['id']}/versions"
    for wrong in (f"/v1/session-completions/{uuid.uuid4()}/document",
                  "/v1/session-completions/not-a-uuid/document",
                  f"/v1/appointments/{uuid.uuid4()}/summary/document",
                  f"/v1/forms/{uuid.uuid4()}/document",
                  f"{versions}/0/handout/document", f"{versions}/x/handout/document",
                  f"{versions}/99/handout/document"):  # fmt: skip
        status, answer, _ = await world.get(wrong, "admin")
        assert status == 404, (wrong, answer)
    summary = f"/v1/appointments/{world.appointment}/summary/document"
    status, answer, _ = await world.get(summary, "patient1")
    assert status == 404, answer
    assert await _rows(world) == []  # nothing was rendered for anyone refused


async def test_the_appointment_summary_carries_the_shared_notes_not_in_the_patient_s_copy(
    world: World, tmp_path: Path
) -> None:
    notes = f"/v1/appointments/{world.appointment}/notes"
    for body in ({"body": "Flexion 95°. Progress to step-ups.", "visibility": "care_team"},
                 {"body": "My private hunch", "visibility": "private"}):  # fmt: skip
        resp = await world.client.post(notes, json=body, headers=world.headers("specialist"))
        assert resp.status == 201, await resp.text()
    path = f"/v1/appointments/{world.appointment}/summary/document"
    status, staff, _ = await world.get(path, "admin")
    assert status == 200, staff
    text = _text(await world.download(staff["url"]), tmp_path)
    for expected in ("Appointment summary", "Knee assessment (in clinic)", "Dr Test",
                     "Test Patient0", "20 Nov 2026, 11:00 – 20 Nov 2026, 11:45",
                     "Clinician's notes", "Flexion 95°. Progress to step-ups."):  # fmt: skip
        assert expected in text, (expected, text)
    assert "private hunch" not in text
    status, mine, _ = await world.get(path, "patient0")
    assert status == 200 and mine["sha256"] != staff["sha256"]
    text = _text(await world.download(mine["url"]), tmp_path)
    assert "Knee assessment" in text and "Flexion" not in text and "notes" not in text.lower()


async def test_the_handout_of_a_published_version(world: World, tmp_path: Path) -> None:
    plan_id = world.plan["id"]
    path = f"/v1/treatment-plans/{plan_id}/versions/1/handout/document"
    status, link, _ = await world.get(path, "specialist")
    assert status == 200, link
    text = _text(await world.download(link["url"]), tmp_path)
    for expected in ("Home exercise programme", world.plan["name"], "version 1",
                     "3 sets of 10 reps, rest 60 s between sets",
                     "2 sets of 12 reps, hold 1 s, rest 30 s between sets",
                     "How to do each exercise"):  # fmt: skip
        assert expected in text, (expected, text)
    status, mine, _ = await world.get(path, "patient0")  # assigned to them
    assert status == 200 and mine["sha256"] == link["sha256"]
    status, answer, _ = await world.get(path, "patient1")  # never assigned
    assert status == 404, answer
    rows = await _rows(world)
    assert [(r["kind"], r["patient_id"]) for r in rows] == [("handout", None)]

    resp = await world.client.put(
        f"/v1/treatment-plans/{plan_id}/draft",
        json={"sessions": world.plan["draft"]["content"]["sessions"]},
        headers=world.headers("admin"),
    )
    assert resp.status == 200, await resp.text()
    draft = (await resp.json())["version"]
    status, answer, _ = await world.get(
        f"/v1/treatment-plans/{plan_id}/versions/{draft}/handout/document", "admin"
    )
    assert status == 409 and answer["error"]["code"] == "not_published", answer


async def _form(world: World, *, sign: str | None) -> str:
    admin = world.headers("admin")
    ids = []
    for spec in ({"key": "pacemaker", "label": "Do you have a pacemaker?", "type": "yes_no",
                  "required": True},
                 {"key": "side", "label": "Which knee", "type": "choice",
                  "options": ["left", "right"]},
                 {"key": "agree", "label": "I agree", "type": "signature"}):  # fmt: skip
        spec = {**spec, "key": f"{spec['key']}_{uuid.uuid4().hex[:6]}"}
        resp = await world.client.post("/v1/form-fields", json=spec, headers=admin)
        assert resp.status == 201, await resp.text()
        ids.append(((await resp.json())["id"], spec["key"]))
    resp = await world.client.post(
        "/v1/form-templates",
        json={"name": "Consent to treatment", "kind": "consent", "field_ids": [i for i, _ in ids]},
        headers=admin,
    )
    assert resp.status == 201, await resp.text()
    template = await resp.json()
    resp = await world.client.post(f"/v1/form-templates/{template['id']}/publish", headers=admin)
    assert resp.status == 201, await resp.text()
    resp = await world.client.post(
        f"/v1/patients/{world.clinic.patients[0]}/forms",
        json={"template_id": template["id"]},
        headers=admin,
    )
    assert resp.status == 201, await resp.text()
    form_id: str = (await resp.json())["id"]
    answers = {ids[0][1]: False, ids[1][1]: "left"}
    if sign is not None:
        signature: dict[str, Any] = {"signer_name": "Test Patient0", "method": sign}
        if sign == "drawn":
            signature["image"] = base64.b64encode(PNG).decode()
        resp = await world.client.post(
            f"/v1/forms/{form_id}/sign",
            json={"answers": answers, "signature": signature},
            headers=world.headers("patient0"),
        )
        assert resp.status == 200, await resp.text()
    return form_id


async def test_a_signed_form_and_a_form_not_signed_yet(world: World, tmp_path: Path) -> None:
    signed = await _form(world, sign="drawn")
    status, link, _ = await world.get(f"/v1/forms/{signed}/document", "patient0")
    assert status == 200, link
    text = _text(await world.download(link["url"]), tmp_path)
    for expected in ("Signed form", "Consent to treatment · version 1", "Test Patient0",
                     "Do you have a pacemaker? No", "Which knee left", "Drawn signature",
                     "Signed at"):  # fmt: skip
        assert expected in text, (expected, text)
    assert "I agree" not in text  # the signature field is the signature block
    status, answer, _ = await world.get(f"/v1/forms/{signed}/document", "patient1")
    assert status == 404, answer
    open_form = await _form(world, sign=None)
    status, answer, _ = await world.get(f"/v1/forms/{open_form}/document", "admin")
    assert status == 409 and answer["error"]["code"] == "not_signed", answer
    status, answer, _ = await world.get(f"/v1/forms/{open_form}/document", "patient1")
    assert status == 404, answer  # not told whether a form it may not see is signed


async def test_the_letterhead_is_the_clinic_s_and_a_new_one_gives_new_documents(
    world: World, tmp_path: Path
) -> None:
    path = f"/v1/session-completions/{world.completions[-1]}/document"
    status, before, _ = await world.get(path, "admin")
    assert status == 200, before
    status, current, _ = await world.get("/v1/documents/letterhead", "admin")
    assert status == 200 and current == {
        "clinic_name": None, "address": None, "phone": None, "footer": None, "updated_at": None
    }  # fmt: skip
    body = {"address": "Str. Exemplu 12, Cluj", "phone": "+40 264 000 000",
            "footer": "CUI 123 · confidential"}  # fmt: skip
    resp = await world.client.put(
        "/v1/documents/letterhead", json=body, headers=world.headers("admin")
    )
    assert resp.status == 200, await resp.text()
    saved = await resp.json()
    assert saved["address"] == body["address"] and saved["clinic_name"] is None
    status, after, _ = await world.get(path, "admin")
    assert status == 200 and after["sha256"] != before["sha256"]
    text = _text(await world.download(after["url"]), tmp_path)
    for expected in ("Clinica Mișcarea", "Str. Exemplu 12, Cluj", "Tel. +40 264 000 000",
                     "CUI 123 · confidential"):  # fmt: skip
        assert expected in text, (expected, text)
    assert len(await _rows(world)) == 2

    resp = await world.client.put(
        "/v1/documents/letterhead", json=body, headers=world.headers("specialist")
    )
    assert resp.status == 403
    for bad in ({"phone": "1" * 51}, {"address": 7}, {"logo": "x"}):
        resp = await world.client.put(
            "/v1/documents/letterhead", json=bad, headers=world.headers("admin")
        )
        assert resp.status == 422, (bad, await resp.text())
