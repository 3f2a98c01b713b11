"""Custom fields and versioned forms: publishing freezes a version that later edits never
change, a patient's form pins its version, answers are checked per field and sealed at rest,
signing records who, when, how and from where, and a signed form is immutable in the database."""

from __future__ import annotations

import base64
import uuid

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, SETTINGS_KEY
from storage import forms, privacy, sealed
from storage.audit import SYSTEM
from storage.crypto import DEV_INDEX_KEY, DEV_KEYS, KeyRing
from storage.db import create_pool
from storage.forms import _instances as forms_sealed
from storage.types import Channel, Role
from tests.integration.records.forms.conftest import PNG_1X1, Clinic, make_clinic

Client = TestClient[web.Request, web.Application]
COMPLETE = {"pain": 8, "chest_pain": True, "weight": 71.5, "side": "left",
            "injury_date": "2026-11-02", "notes": "Hurts on stairs"}  # fmt: skip


async def test_publishing_freezes_a_version_that_edits_never_change(clinic: Clinic) -> None:
    made = await clinic.intake_template()
    template, v1 = made["template"], made["version"]
    tid = template["id"]
    assert v1["version"] == 1 and [f["key"] for f in v1["fields"]][:2] == ["pain", "chest_pain"]
    assert v1["fields"][0] == {
        "field_id": made["field_ids"][0], "key": "pain", "label": "Pain now", "type": "scale",
        "required": True, "options": None, "min": 0.0, "max": 10.0, "red_flag": False,
        "alert_at": None,
    }  # fmt: skip

    # Nothing changed: publishing again answers the newest version and makes none.
    again = await clinic.ok("POST", f"/v1/form-templates/{tid}/publish", clinic.admin)
    assert again["id"] == v1["id"]

    # Edit a field and the draft; version 1 stays as it was, version 2 has the edits.
    await clinic.ok(
        "PATCH", f"/v1/form-fields/{made['field_ids'][0]}", clinic.admin,
        {"label": "Pain today", "alert_at": 6},
    )  # fmt: skip
    edited = await clinic.ok(
        "PATCH", f"/v1/form-templates/{tid}", clinic.admin,
        {"name": "Knee intake (2)", "field_ids": made["field_ids"][:3]},
    )  # fmt: skip
    assert edited["current_version"] == 1
    v2 = await clinic.ok("POST", f"/v1/form-templates/{tid}/publish", clinic.admin, None, 201)
    assert v2["version"] == 2 and v2["name"] == "Knee intake (2)" and len(v2["fields"]) == 3
    assert v2["fields"][0]["label"] == "Pain today" and v2["fields"][0]["alert_at"] == 6
    assert await clinic.ok("GET", f"/v1/form-templates/{tid}/versions/1", clinic.admin) == v1
    listed = await clinic.ok("GET", f"/v1/form-templates/{tid}/versions", clinic.treating)
    assert [v["version"] for v in listed["data"]] == [2, 1]
    assert (await clinic.call("GET", f"/v1/form-templates/{tid}/versions/3", clinic.admin))[
        0
    ] == 404

    # Key and type are what answers are keyed by: they never change.
    status, answer = await clinic.call(
        "PATCH", f"/v1/form-fields/{made['field_ids'][0]}", clinic.admin, {"type": "number"}
    )
    assert status == 422 and answer["error"]["details"]["fields"] == {
        "type": "cannot change (answers are keyed by it)"
    }


async def test_field_definitions_are_checked_per_attribute(clinic: Clinic) -> None:
    cases = [
        ({"key": "a", "label": "A", "type": "text", "options": ["x"]},
         {"options": "are for choice fields only"}),
        ({"key": "b", "label": "B", "type": "choice"},
         {"options": "must be 1 to 50 non-empty texts"}),
        ({"key": "c", "label": "C", "type": "scale", "min": 5, "max": 1},
         {"max": "must not be below min"}),
        ({"key": "d", "label": "D", "type": "text", "red_flag": True},
         {"red_flag": "is for yes/no fields only"}),
        ({"key": "e", "label": "E", "type": "date", "min": 1},
         {"min": "is for number and scale fields only"}),
    ]  # fmt: skip
    for spec, details in cases:
        status, answer = await clinic.call("POST", "/v1/form-fields", clinic.admin, spec)
        assert status == 422 and answer["error"]["details"]["fields"] == details, (spec, answer)
    status, answer = await clinic.call(
        "POST", "/v1/form-fields", clinic.admin, {"key": "Bad Key", "label": "x", "type": "text"}
    )
    assert status == 422 and "key" in answer["error"]["details"]["fields"]
    spec = {"key": "dup", "label": "Dup", "type": "text"}
    await clinic.ok("POST", "/v1/form-fields", clinic.admin, spec, 201)
    assert (await clinic.call("POST", "/v1/form-fields", clinic.admin, spec))[0] == 409
    # A template of unknown fields, an empty template published.
    status, answer = await clinic.call(
        "POST", "/v1/form-templates", clinic.admin,
        {"name": "X", "kind": "consent", "field_ids": [str(uuid.uuid4())]},
    )  # fmt: skip
    assert status == 422 and "field_ids" in answer["error"]["details"]["fields"]
    empty = await clinic.ok(
        "POST", "/v1/form-templates", clinic.admin, {"name": "Empty", "kind": "other"}, 201
    )
    status, answer = await clinic.call(
        "POST", f"/v1/form-templates/{empty['id']}/publish", clinic.admin
    )
    assert status == 422 and "field_ids" in answer["error"]["details"]["fields"]


async def test_only_admins_manage_fields_and_templates(clinic: Clinic) -> None:
    made = await clinic.intake_template()
    tid = made["template"]["id"]
    for role in (Role.RECEPTIONIST, Role.SPECIALIST):
        token = clinic.token(role)
        assert (await clinic.call("GET", "/v1/form-templates", token))[0] == 200
        assert (await clinic.call("GET", "/v1/form-fields", token))[0] == 200
        for method, path, body in (
            ("POST", "/v1/form-fields", {"key": "x", "label": "X", "type": "text"}),
            ("PATCH", f"/v1/form-templates/{tid}", {"name": "Mine"}),
            ("POST", f"/v1/form-templates/{tid}/publish", None),
        ):
            assert (await clinic.call(method, path, token, body))[0] == 403, (role, path)
    other = await make_clinic(clinic.client)
    status, _ = await clinic.call("GET", f"/v1/form-templates/{tid}", other.admin)
    assert status == 404


async def test_a_form_pins_its_version_checks_answers_and_signs_once(clinic: Clinic) -> None:
    made = await clinic.intake_template()
    tid = made["template"]["id"]
    form = await clinic.ok(
        "POST", f"/v1/patients/{clinic.patient}/forms", clinic.treating,
        {"template_id": tid, "appointment_id": str(clinic.appointment)}, 201,
    )  # fmt: skip
    assert form["status"] == "open" and form["template"]["version"] == 1 and form["answers"] == {}
    fid = form["id"]
    # A new version of the template does not reach the form already started.
    await clinic.ok("PATCH", f"/v1/form-templates/{tid}", clinic.admin,
                    {"field_ids": made["field_ids"][:1]})  # fmt: skip
    await clinic.ok("POST", f"/v1/form-templates/{tid}/publish", clinic.admin, None, 201)

    status, answer = await clinic.call(
        "PUT", f"/v1/forms/{fid}/answers", clinic.treating,
        {"answers": {"pain": 11, "chest_pain": "yes", "side": "up", "injury_date": "2026-13-01",
                     "weight": "heavy", "nope": 1, "consent": "Ana"}},
    )  # fmt: skip
    assert status == 422, answer
    assert answer["error"]["details"]["fields"] == {
        "answers.pain": "must be at most 10",
        "answers.chest_pain": "must be true or false",
        "answers.side": "must be one of the field's options",
        "answers.injury_date": "must be a date (YYYY-MM-DD)",
        "answers.weight": "must be a number",
        "answers.nope": "is not a field of this form",
        "answers.consent": "is given by signing the form",
    }
    filled = await clinic.ok(
        "PUT", f"/v1/forms/{fid}/answers", clinic.as_patient(), {"answers": {"pain": 3}}
    )
    assert filled["answers"] == {"pain": 3} and filled["template"]["version"] == 1
    assert len(filled["fields"]) == 7

    # Signing needs every required answer (the signature field is the signature itself).
    sign = {"signature": {"signer_name": "Ana Pop", "method": "drawn",
                          "image": base64.b64encode(PNG_1X1).decode()}}  # fmt: skip
    status, answer = await clinic.call("POST", f"/v1/forms/{fid}/sign", clinic.treating, sign)
    assert status == 422
    assert answer["error"]["details"]["fields"] == {"answers.chest_pain": "is required"}
    bad_image = {"signature": {**sign["signature"], "image": base64.b64encode(b"GIF89a").decode()}}
    status, answer = await clinic.call(
        "POST", f"/v1/forms/{fid}/sign", clinic.treating, {**bad_image, "answers": COMPLETE}
    )
    assert status == 422
    assert answer["error"]["details"]["fields"] == {"signature.image": "must be a PNG image"}

    since = await clinic.position(Channel.org(clinic.org))
    status, signed = await clinic.call(
        "POST", f"/v1/forms/{fid}/sign", clinic.treating, {**sign, "answers": COMPLETE},
        headers={"User-Agent": "Tablet/1.0"},
    )  # fmt: skip
    assert status == 200, signed
    assert signed["status"] == "signed" and signed["answers"] == COMPLETE
    signature = signed["signature"]
    assert signature["signer_name"] == "Ana Pop" and signature["method"] == "drawn"
    assert base64.b64decode(signature["image"]) == PNG_1X1
    assert signature["ip"] == "127.0.0.1" and signature["user_agent"] == "Tablet/1.0"
    assert signature["signed_at"] and signature["signed_by"] is not None

    # Pushed to the staff channel with ids only.
    frames = await clinic.events(Channel.org(clinic.org), since)
    assert [(f["type"], f["data"]["form_id"]) for f in frames] == [("form.signed", fid)]
    assert frames[0]["data"]["version"] == 1
    raw = orjson.dumps(frames)
    assert b"stairs" not in raw and b"Ana" not in raw

    # Once signed, nothing changes through the API either.
    status, answer = await clinic.call(
        "PUT", f"/v1/forms/{fid}/answers", clinic.admin, {"answers": {"pain": 1}}
    )
    assert status == 409 and answer["error"]["code"] == "invalid_transition"
    assert (await clinic.call("POST", f"/v1/forms/{fid}/sign", clinic.admin, sign))[0] == 409

    listed = await clinic.ok("GET", f"/v1/patients/{clinic.patient}/forms", clinic.as_patient())
    assert [(f["id"], f["status"]) for f in listed["data"]] == [(fid, "signed")]
    assert "answers" not in listed["data"][0]


async def test_a_typed_signature_and_the_summary(clinic: Clinic) -> None:
    made = await clinic.intake_template()
    form = await clinic.ok(
        "POST", f"/v1/patients/{clinic.patient}/forms", clinic.admin,
        {"template_id": made["template"]["id"]}, 201,
    )  # fmt: skip
    fid = form["id"]
    await clinic.ok("PUT", f"/v1/forms/{fid}/answers", clinic.admin,
                    {"answers": {"pain": 8, "chest_pain": True, "notes": "  "}})  # fmt: skip
    summary = await clinic.ok("GET", f"/v1/forms/{fid}/summary", clinic.treating)
    assert summary["summarizer"] == "local" and summary["form_id"] == fid
    assert [(f["key"], f["reason"]) for f in summary["flags"]] == [
        ("pain", "high"), ("chest_pain", "red_flag"), ("consent", "unanswered"),
    ]  # fmt: skip
    assert summary["answered"] == 2 and summary["total"] == 7
    assert "Red flags: Chest pain on effort: yes." in summary["text"]
    # The patient sees their form, not the clinician's summary.
    assert (await clinic.call("GET", f"/v1/forms/{fid}/summary", clinic.as_patient()))[0] == 403

    signed = await clinic.ok(
        "POST", f"/v1/forms/{fid}/sign", clinic.as_patient(),
        {"signature": {"signer_name": "Ana Pop", "method": "typed"}},
    )  # fmt: skip
    assert signed["signature"]["method"] == "typed" and signed["signature"]["image"] is None
    assert signed["signature"]["signed_by"] is None  # the patient signed, not the staff
    after = await clinic.ok("GET", f"/v1/forms/{fid}/summary", clinic.admin)
    assert [f["reason"] for f in after["flags"]] == ["high", "red_flag"]


async def test_who_may_see_a_patients_forms(clinic: Clinic, client: Client) -> None:
    made = await clinic.intake_template()
    form = await clinic.ok(
        "POST", f"/v1/patients/{clinic.patient}/forms", clinic.admin,
        {"template_id": made["template"]["id"]}, 201,
    )  # fmt: skip
    fid = form["id"]
    other = await make_clinic(client)
    refused = {
        "another patient": clinic.as_patient(clinic.other_patient),
        "a specialist not treating": clinic.token(Role.SPECIALIST, specialist_id=uuid.uuid4()),
        "another clinic's admin": other.admin,
    }
    for who, token in refused.items():
        for method, path, body in (
            ("GET", f"/v1/forms/{fid}", None),
            ("PUT", f"/v1/forms/{fid}/answers", {"answers": {}}),
            (
                "POST",
                f"/v1/forms/{fid}/sign",
                {"signature": {"signer_name": "x", "method": "typed"}},
            ),
            ("GET", f"/v1/patients/{clinic.patient}/forms", None),
        ):
            status, answer = await clinic.call(method, path, token, body)
            assert status == 404, (who, method, path, answer)
    status, _ = await clinic.call(
        "POST", f"/v1/patients/{clinic.patient}/forms",
        clinic.token(Role.SPECIALIST, specialist_id=uuid.uuid4()),
        {"template_id": made["template"]["id"]},
    )  # fmt: skip
    assert status == 404
    # Roles that never see clinical records are refused as roles.
    for role in (Role.OWNER, Role.RECEPTIONIST):
        assert (await clinic.call("GET", f"/v1/forms/{fid}", clinic.token(role)))[0] == 403
    # A template never published cannot be started.
    draft = await clinic.ok("POST", "/v1/form-templates", clinic.admin,
                            {"name": "Draft", "kind": "assessment"}, 201)  # fmt: skip
    status, answer = await clinic.call(
        "POST", f"/v1/patients/{clinic.patient}/forms", clinic.admin, {"template_id": draft["id"]}
    )
    assert status == 422 and "template_id" in answer["error"]["details"]["fields"]


async def _signed_form(clinic: Clinic) -> str:
    made = await clinic.intake_template()
    form = await clinic.ok(
        "POST", f"/v1/patients/{clinic.patient}/forms", clinic.admin,
        {"template_id": made["template"]["id"]}, 201,
    )  # fmt: skip
    await clinic.ok(
        "POST", f"/v1/forms/{form['id']}/sign", clinic.admin,
        {"answers": COMPLETE, "signature": {"signer_name": "Ana Pop", "method": "typed"}},
    )  # fmt: skip
    return str(form["id"])


async def test_the_database_refuses_to_change_a_signed_form(
    clinic: Clinic, database_url: str
) -> None:
    fid = uuid.UUID(await _signed_form(clinic))
    conn = await clinic.app_role()
    try:
        tampering = [
            "UPDATE form_instances SET answers = answers WHERE id = $1",
            "UPDATE form_instances SET answers = NULL WHERE id = $1",
            "UPDATE form_instances SET status = 'open', signed_at = NULL,"
            " signature_method = NULL WHERE id = $1",
            "UPDATE form_instances SET signed_at = signed_at - interval '1 day' WHERE id = $1",
            "UPDATE form_instances SET signer_ip = NULL WHERE id = $1",
        ]
        for statement in tampering:
            async with conn.transaction():
                await clinic.enter(conn)
                with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
                    await conn.execute(statement, fid)
        async with conn.transaction():
            await clinic.enter(conn)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DELETE FROM form_instances WHERE id = $1", fid)
        async with conn.transaction():  # a published version neither
            await clinic.enter(conn)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("UPDATE form_template_versions SET name = 'x'")
    finally:
        await conn.close()

    owner = await asyncpg.connect(database_url)
    try:
        # Not even the schema owner moves the record of the signature...
        for statement in (
            "UPDATE form_instances SET signed_at = now() WHERE id = $1",
            "UPDATE form_instances SET signature_method = 'drawn' WHERE id = $1",
            "DELETE FROM form_instances WHERE id = $1",
        ):
            with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
                await owner.execute(statement, fid)
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
            await owner.execute("UPDATE form_template_versions SET name = 'x'")
        # ...it may only blank what identifies the patient (erasure, storage/privacy.py SCRUB).
        await owner.execute(
            "UPDATE form_instances SET answers = NULL, signer_name = NULL, signature_image = NULL,"
            " signer_ip = NULL, signer_user_agent = NULL WHERE id = $1",
            fid,
        )
        row = await owner.fetchrow(
            "SELECT status, signed_at FROM form_instances WHERE id = $1", fid
        )
        assert row["status"] == "signed" and row["signed_at"] is not None
    finally:
        await owner.close()
    erased = await clinic.ok("GET", f"/v1/forms/{fid}", clinic.admin)
    assert erased["answers"] == {} and erased["signature"]["signer_name"] is None


async def test_answers_and_signer_are_sealed_at_rest(clinic: Clinic, database_url: str) -> None:
    fid = uuid.UUID(await _signed_form(clinic))
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT answers, signer_name FROM form_instances WHERE id = $1", fid
        )
        # A sealed value moved to another row does not open there.
        other = await conn.fetchval(
            "INSERT INTO form_instances (organization_id, patient_id, template_id, version_id)"
            " SELECT organization_id, patient_id, template_id, version_id FROM form_instances"
            " WHERE id = $1 RETURNING id",
            fid,
        )
        await conn.execute(
            "UPDATE form_instances SET answers = $2 WHERE id = $1", other, row["answers"]
        )
    finally:
        await conn.close()
    assert row["answers"].startswith("v1:") and "stairs" not in row["answers"]
    assert row["signer_name"].startswith("v1:") and "Ana" not in row["signer_name"]
    status, answer = await clinic.call("GET", f"/v1/forms/{other}", clinic.admin)
    assert status == 500 and answer["error"]["code"] == "data_integrity"


async def test_the_form_document_for_the_signed_form_pdf(clinic: Clinic) -> None:
    fid = uuid.UUID(await _signed_form(clinic))
    db = clinic.client.app[DB_KEY]
    keys = clinic.client.app[SETTINGS_KEY].data_keys
    async with db.tenant(clinic.org):
        document = await forms.form_document(keys, fid)
        assert await forms.form_document(keys, uuid.uuid4()) is None
    async with db.tenant((await make_clinic(clinic.client)).org):
        assert await forms.form_document(keys, fid) is None  # another tenant's: not there
    assert document is not None
    assert set(document) == {
        "id", "patient_id", "patient_name", "status", "template", "fields", "answers", "signature",
    }  # fmt: skip
    assert document["id"] == fid and document["patient_id"] == clinic.patient
    assert document["patient_name"] == "Ana Pop" and document["status"] == "signed"
    assert document["template"]["name"] == "Knee intake" and document["template"]["version"] == 1
    assert document["fields"][3] == {
        "key": "side", "label": "Side", "type": "choice", "options": ["left", "right"],
        "required": False,
    }  # fmt: skip
    assert document["answers"] == COMPLETE
    signature = document["signature"]
    assert signature["signer_name"] == "Ana Pop" and signature["method"] == "typed"
    assert signature["image"] is None and signature["ip"] == "127.0.0.1"
    assert signature["signed_at"].tzinfo is not None


# What the lead adds to storage/privacy.py SCRUB; erasure runs it as the schema owner.
FORMS_SCRUB = {
    "answers": "NULL",
    "signer_name": "NULL",
    "signature_image": "NULL",
    "signer_ip": "NULL",
    "signer_user_agent": "NULL",
}


async def test_erasure_blanks_a_signed_form_and_keeps_the_record(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    fid = uuid.UUID(await _signed_form(clinic))
    monkeypatch.setitem(privacy.SCRUB, "form_instances", FORMS_SCRUB)
    db = clinic.client.app[DB_KEY]
    async with db.platform() as conn:
        erased = await privacy.erase(
            conn, org_id=clinic.org, patient_id=clinic.patient, actor=SYSTEM, seal=db.seal
        )
        row = await conn.fetchrow("SELECT * FROM form_instances WHERE id = $1", fid)
    assert erased.first
    assert [row[c] for c in FORMS_SCRUB] == [None] * len(FORMS_SCRUB)
    assert row["status"] == "signed" and row["signature_method"] == "typed"
    assert row["signed_at"] is not None


async def test_key_rotation_reseals_a_signed_form(
    clinic: Clinic, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the lead adds to storage/sealed.py SEALED: the owner's rotation passes the guard."""
    fid = uuid.UUID(await _signed_form(clinic))
    columns = tuple(sealed.SealedColumn("form_instances", c) for c in forms_sealed.SEALED)
    monkeypatch.setattr(sealed, "_BY_TABLE", {"form_instances": columns})
    new = KeyRing.parse(f"{DEV_KEYS},k2:{base64.b64encode(b'k' * 32).decode()}", DEV_INDEX_KEY)
    new = new.with_active("k2")
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        done = await sealed.rotate(pool, new)
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM form_instances WHERE id = $1", fid)
    finally:
        await pool.close()
    # (other tests' forms are rotated too, the deliberately moved ciphertext left unreadable)
    assert done.rewritten["form_instances"] >= 1
    assert row["answers"].startswith("v1:k2:") and row["signer_name"].startswith("v1:k2:")
    assert forms_sealed.opened(new, row)["answers"] == COMPLETE
