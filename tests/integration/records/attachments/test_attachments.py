"""Attachments over REST with the embedded store: upload (raw and multipart), list, a link that
downloads the bytes, delete with its audit row; the bytes decide the type (422 when they are not
what the name says), the size limit (413), and 404 for a patient or attachment the caller may
not see."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import BLOBS_KEY, DB_KEY
from storage.types import Channel, Role
from tests.integration.messages.conftest import Clinic, make_clinic
from tests.integration.records.attachments.conftest import LIMIT, heic, jpeg, pdf, png, webp

Client = TestClient[web.Request, web.Application]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def upload(
    clinic: Clinic,
    token: str,
    data: bytes,
    filename: str,
    patient: uuid.UUID | None = None,
    content_type: str = "application/octet-stream",
) -> tuple[int, Any]:
    path = f"/v1/patients/{patient or clinic.patient}/attachments"
    async with clinic.client.post(
        path,
        params={"filename": filename},
        data=data,
        headers={**_auth(token), "Content-Type": content_type},
    ) as answer:
        return answer.status, await answer.json()


def _specialist(clinic: Clinic) -> str:
    return clinic.token(Role.SPECIALIST, clinic.staff_user, specialist_id=clinic.specialist)


async def _audit(clinic: Clinic, attachment_id: str) -> list[dict[str, Any]]:
    async with clinic.client.app[DB_KEY].platform() as conn:
        found = await conn.fetch(
            "SELECT action, actor_user_id, diff FROM audit_log"
            " WHERE entity = 'attachment' AND entity_id = $1 ORDER BY created_at",
            attachment_id,
        )
    return [dict(r.items()) for r in found]


async def _rows(clinic: Clinic, patient: uuid.UUID) -> int:
    async with clinic.client.app[DB_KEY].platform() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM patient_attachments WHERE patient_id = $1", patient
        )
    return count


async def test_upload_list_link_download_and_delete(clinic: Clinic) -> None:
    staff = _specialist(clinic)
    data = pdf()
    since = await clinic.position(Channel.org(clinic.org))
    status, created = await upload(clinic, staff, data, "Pop Ana - RMN genunchi.PDF")
    assert status == 201, created
    assert created["patient_id"] == str(clinic.patient)
    assert created["filename"] == "Pop Ana - RMN genunchi.PDF"
    assert created["content_type"] == "application/pdf"  # from the bytes
    assert created["size"] == len(data)
    assert created["uploaded_by"] == str(clinic.staff_user)
    assert created["uploaded_by_role"] == "specialist"

    status, listed = await clinic.call("GET", f"/v1/patients/{clinic.patient}/attachments", staff)
    assert status == 200 and [a["id"] for a in listed["data"]] == [created["id"]]

    status, shown = await clinic.call("GET", f"/v1/attachments/{created['id']}", staff)
    assert status == 200
    assert {k: v for k, v in shown.items() if k != "link"} == created
    async with clinic.client.get(shown["link"]["url"]) as answer:
        assert answer.status == 200
        assert await answer.read() == data
        assert answer.headers["Content-Type"] == "application/pdf"
        assert "Pop%20Ana%20-%20RMN%20genunchi.PDF" in answer.headers["Content-Disposition"]

    status, _ = await clinic.call("DELETE", f"/v1/attachments/{created['id']}", staff)
    assert status == 204
    assert (await clinic.call("GET", f"/v1/attachments/{created['id']}", staff))[0] == 404
    assert (await clinic.call("DELETE", f"/v1/attachments/{created['id']}", staff))[0] == 404
    status, listed = await clinic.call("GET", f"/v1/patients/{clinic.patient}/attachments", staff)
    assert listed["data"] == []
    # The row stays, stamped; the audit trail has both, and never the file name.
    async with clinic.client.app[DB_KEY].platform() as conn:
        kept = await conn.fetchrow(
            "SELECT deleted_at, deleted_by, filename FROM patient_attachments WHERE id = $1",
            uuid.UUID(created["id"]),
        )
    assert kept["deleted_at"] is not None and kept["deleted_by"] == clinic.staff_user
    assert "Pop Ana" not in kept["filename"]  # sealed at rest
    trail = await _audit(clinic, created["id"])
    # Between them, the read of its link (reads of clinical records are audited too).
    assert [t["action"] for t in trail] == ["attachment.create", "read", "attachment.delete"]
    assert all(t["actor_user_id"] == clinic.staff_user for t in trail)
    assert "Pop Ana" not in orjson.dumps([t["diff"] for t in trail]).decode()
    # The staff channel heard both, ids only.
    events = await clinic.events(Channel.org(clinic.org), since)
    pushed = [(e["type"], e["data"]) for e in events if e["type"].startswith("attachment.")]
    ids = {"attachment_id": created["id"], "patient_id": str(clinic.patient)}
    assert pushed == [("attachment.created", ids), ("attachment.deleted", ids)]


async def test_a_browser_form_upload_and_the_patient_on_their_own_record(clinic: Clinic) -> None:
    data = jpeg()
    form = aiohttp.FormData(quote_fields=False)  # as browsers send names: UTF-8, not %-encoded
    form.add_field("note", "ignored")
    form.add_field("file", data, filename="genunchi ștâng.jpeg", content_type="image/jpeg")
    path = f"/v1/patients/{clinic.patient}/attachments"
    async with clinic.client.post(path, data=form, headers=_auth(clinic.as_patient())) as answer:
        assert answer.status == 201, await answer.text()
        created = await answer.json()
    assert created["filename"] == "genunchi ștâng.jpeg"
    assert created["content_type"] == "image/jpeg"
    assert created["uploaded_by_role"] == "patient"
    own = f"/v1/attachments/{created['id']}"
    status, shown = await clinic.call("GET", own, clinic.as_patient())
    assert status == 200
    async with clinic.client.get(shown["link"]["url"]) as answer:
        assert await answer.read() == data
    # A patient does not delete records.
    status, _ = await clinic.call("DELETE", own, clinic.as_patient())
    assert status == 403


async def test_every_allowed_kind_is_taken_and_the_same_bytes_stored_once(clinic: Clinic) -> None:
    staff = _specialist(clinic)
    for data, name, kind in (
        (png(), "a.png", "image/png"),
        (jpeg(), "b.JPG", "image/jpeg"),
        (webp(), "c.webp", "image/webp"),
        (heic(), "IMG_0001.HEIC", "image/heic"),
    ):
        status, created = await upload(clinic, staff, data, name)
        assert (status, created["content_type"]) == (201, kind), created
    same = pdf()
    first = (await upload(clinic, staff, same, "one.pdf"))[1]
    second = (await upload(clinic, staff, same, "two.pdf"))[1]
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    store = clinic.client.app[BLOBS_KEY]
    assert await store.get(f"sha256/{first['sha256']}") == same


async def test_bytes_that_are_not_what_the_name_says_are_refused(clinic: Clinic) -> None:
    staff = _specialist(clinic)
    status, body = await upload(clinic, staff, png(), "scan.pdf", content_type="application/pdf")
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["details"]["fields"] == {
        "filename": "the content is a PNG image, but the name says .pdf"
    }
    status, body = await upload(clinic, staff, b"<html><script>alert(1)</script>", "x.png")
    assert status == 422 and "file" in body["error"]["details"]["fields"]
    status, body = await upload(clinic, staff, b"MZ\x90\x00 an executable", "report.pdf")
    assert status == 422 and "file" in body["error"]["details"]["fields"]
    for data, name, field in (
        (pdf(), "no-extension", "filename"),
        (b"", "empty.pdf", "file"),
        (pdf(), "", "filename"),
        (pdf(), "../../etc/passwd.pdf", "filename"),
        (pdf(), "x" * 300 + ".pdf", "filename"),
    ):
        status, body = await upload(clinic, staff, data, name)
        assert status == 422, (name, body)
        assert field in body["error"]["details"]["fields"], (name, body)
    # A form without exactly one file.
    form = aiohttp.FormData()
    form.add_field("a", pdf(), filename="a.pdf")
    form.add_field("b", pdf(), filename="b.pdf")
    path = f"/v1/patients/{clinic.patient}/attachments"
    async with clinic.client.post(path, data=form, headers=_auth(staff)) as answer:
        assert answer.status == 422
    assert await _rows(clinic, clinic.patient) == 0


async def test_a_file_over_the_limit_is_too_large(clinic: Clinic) -> None:
    status, body = await upload(clinic, _specialist(clinic), pdf(LIMIT), "big.pdf")
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"] == {"max_bytes": LIMIT}
    assert await _rows(clinic, clinic.patient) == 0


async def test_a_patient_or_attachment_out_of_sight_is_not_found(
    clinic: Clinic, client: Client
) -> None:
    other = await make_clinic(client)
    staff = _specialist(clinic)
    status, created = await upload(clinic, staff, pdf(), "mine.pdf")
    assert status == 201
    attachment = f"/v1/attachments/{created['id']}"
    admin = clinic.token(Role.ADMIN)
    foreign_admin = other.token(Role.ADMIN)
    # Another organization's admin: neither the attachment nor the patient.
    assert (await clinic.call("GET", attachment, foreign_admin))[0] == 404
    assert (await clinic.call("DELETE", attachment, foreign_admin))[0] == 404
    assert (await upload(clinic, foreign_admin, pdf(), "x.pdf"))[0] == 404
    list_path = f"/v1/patients/{clinic.patient}/attachments"
    assert (await clinic.call("GET", list_path, foreign_admin))[0] == 404
    # A specialist who does not treat the patient.
    stranger = other_specialist = clinic.token(
        Role.SPECIALIST, uuid.uuid4(), specialist_id=uuid.uuid4()
    )
    assert (await clinic.call("GET", attachment, stranger))[0] == 404
    assert (await upload(clinic, other_specialist, pdf(), "x.pdf"))[0] == 404
    # The treating specialist, for a patient they do not treat.
    assert (await upload(clinic, staff, pdf(), "x.pdf", patient=clinic.other_patient))[0] == 404
    # Another patient.
    other_patient = clinic.as_patient(clinic.other_patient)
    assert (await clinic.call("GET", attachment, other_patient))[0] == 404
    assert (await upload(clinic, other_patient, pdf(), "x.pdf"))[0] == 404
    # A receptionist's role does not read clinical records at all.
    receptionist = clinic.token(Role.RECEPTIONIST)
    assert (await clinic.call("GET", attachment, receptionist))[0] == 403
    # The admin of the clinic sees it.
    assert (await clinic.call("GET", attachment, admin))[0] == 200
    assert await _rows(clinic, clinic.patient) == 1
    assert await _rows(clinic, clinic.other_patient) == 0
