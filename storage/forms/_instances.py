"""Form instances: a patient's copy of one published version, filled, submitted and signed.

A form moves `open -> submitted -> signed` or `open -> signed`; answers change only while it
is open, and a signed form never changes again (the database refuses, whoever asks). Answers,
the signer's name and a drawn signature are sealed at rest (storage/crypto.py), each bound to
its row and column."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from storage.crypto import FieldRef, KeyRing
from storage.errors import Invalid, InvalidTransition
from storage.forms._catalog import latest_version, version_fields
from storage.forms._fields import check_answers
from storage.orm import first, rows
from storage.tables._forms import FormInstances
from storage.tables._scheduling import Patients

Row = dict[str, Any]
TABLE = "form_instances"
SEALED = ("answers", "signer_name", "signature_image")
METHODS = ("typed", "drawn")
MAX_SIGNER = 200
MAX_USER_AGENT = 500
MAX_SIGNATURE_BYTES = 256 * 1024
PNG = b"\x89PNG\r\n\x1a\n"
# What each state allows (the transitions of the form's state machine).
ACTIONS: Mapping[str, tuple[str, ...]] = {
    "open": ("fill", "submit", "sign"),
    "submitted": ("sign",),
    "signed": (),
}


@dataclass(frozen=True, slots=True)
class Signature:
    """Who signed, how and from where. Holds personal data: never logged."""

    signer_name: str
    method: str  # typed | drawn
    image: bytes | None = None  # the drawn signature's PNG
    ip: str | None = None
    user_agent: str | None = None
    signed_by: uuid.UUID | None = None  # the staff user who recorded it; None: the patient

    def __repr__(self) -> str:
        return f"Signature(method={self.method})"

    def checked(self) -> Signature:
        """Raise Invalid (`signature.*`) unless this is a signature a form can carry."""
        errors: dict[str, str] = {}
        name = self.signer_name
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_SIGNER:
            errors["signature.signer_name"] = f"must be 1 to {MAX_SIGNER} characters"
        if self.method not in METHODS:
            errors["signature.method"] = "must be typed or drawn"
        elif self.method == "drawn":
            if not self.image:
                errors["signature.image"] = "a drawn signature needs its image"
            elif not self.image.startswith(PNG):
                errors["signature.image"] = "must be a PNG image"
            elif len(self.image) > MAX_SIGNATURE_BYTES:
                errors["signature.image"] = f"must be at most {MAX_SIGNATURE_BYTES} bytes"
        elif self.image is not None:
            errors["signature.image"] = "is for drawn signatures only"
        if errors:
            raise Invalid(errors)
        agent = self.user_agent[:MAX_USER_AGENT] if self.user_agent else None
        return Signature(name.strip(), self.method, self.image, self.ip, agent, self.signed_by)


def _ref(column: str, row_id: uuid.UUID, org: uuid.UUID) -> FieldRef:
    return FieldRef(TABLE, column, row_id, org)


def _seal(ring: KeyRing, column: str, row_id: uuid.UUID, org: uuid.UUID, text: str) -> str:
    return ring.seal(text, _ref(column, row_id, org))


def opened(ring: KeyRing, row: Mapping[str, Any]) -> Row:
    """The instance with its sealed columns opened: `answers` a dict, `signature_image` bytes
    (raises crypto.CryptoError when a value was tampered with or moved)."""
    out = dict(row.items())
    for column in SEALED:
        sealed = out.get(column)
        if sealed is None:
            continue
        text = ring.open(sealed, _ref(column, out["id"], out["organization_id"]))
        if column == "answers":
            out[column] = orjson.loads(text)
        elif column == "signature_image":
            out[column] = base64.b64decode(text)
        else:
            out[column] = text
    if out.get("answers") is None:
        out["answers"] = {}
    return out


_SELECT = """SELECT i.*, v.version, v.name AS template_name, v.kind AS template_kind,
                    v.fields AS fields
               FROM form_instances i
               JOIN form_template_versions v
                 ON v.organization_id = i.organization_id AND v.id = i.version_id"""


async def get_instance(ring: KeyRing, instance_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    """The instance (opened) with its version's name, kind, number and fields (Piccolo's raw
    query: it runs on the caller's tenant transaction)."""
    found = await rows(
        FormInstances.raw(f"{_SELECT} WHERE i.id = {{}}{' FOR UPDATE OF i' if lock else ''}",
                          instance_id)
    )  # fmt: skip
    return opened(ring, found[0]) if found else None


async def instance_patient(conn: asyncpg.Connection, instance_id: uuid.UUID) -> uuid.UUID | None:
    """Whose form it is (for the caller's access check before anything is opened)."""
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT patient_id FROM form_instances WHERE id = $1", instance_id
    )
    return found


async def create_instance(
    conn: asyncpg.Connection,
    ring: KeyRing,
    org: uuid.UUID,
    *,
    patient_id: uuid.UUID,
    template_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    by: uuid.UUID | None,
) -> Row:
    """A new open form for the patient, pinned to the template's newest published version."""
    version = await latest_version(template_id)
    if version is None:
        raise Invalid({"template_id": "is not a published form of this clinic"})
    if appointment_id is not None:
        owner = await conn.fetchval(
            "SELECT patient_id FROM appointments WHERE id = $1", appointment_id
        )
        if owner != patient_id:
            raise Invalid({"appointment_id": "is not an appointment of this patient"})
    instance_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO form_instances (id, organization_id, patient_id, appointment_id,
                                       template_id, version_id, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        instance_id, org, patient_id, appointment_id, template_id, version["id"], by,
    )  # fmt: skip
    found = await get_instance(ring, instance_id)
    assert found is not None
    return found


async def _locked(conn: asyncpg.Connection, ring: KeyRing, instance_id: uuid.UUID) -> Row:
    found = await get_instance(ring, instance_id, lock=True)
    if found is None:  # the caller checked it exists: only a concurrent erasure gets here
        raise Invalid({"id": "no such form"})
    return found


def _allow(row: Mapping[str, Any], action: str) -> None:
    status = row["status"]
    if action not in ACTIONS[status]:
        raise InvalidTransition("form", status, action, ACTIONS[status])


async def fill(
    conn: asyncpg.Connection,
    ring: KeyRing,
    instance_id: uuid.UUID,
    answers: Mapping[str, Any],
) -> Row:
    """Replace the answers of an open form; each must suit its field, none is required yet."""
    row = await _locked(conn, ring, instance_id)
    _allow(row, "fill")
    kept = check_answers(version_fields(row), answers, complete=False)
    await _write(conn, ring, row, {"answers": kept})
    return await _locked(conn, ring, instance_id)


async def submit(
    conn: asyncpg.Connection,
    ring: KeyRing,
    instance_id: uuid.UUID,
    answers: Mapping[str, Any],
    signature: Signature | None = None,
) -> Row:
    """Answer an open form completely (every required field), signed now or not."""
    row = await _locked(conn, ring, instance_id)
    _allow(row, "sign" if signature is not None else "submit")
    checked = signature.checked() if signature is not None else None
    kept = check_answers(version_fields(row), answers, complete=True, signed=checked is not None)
    now = datetime.now(UTC)
    changes: dict[str, Any] = {"answers": kept, "status": "submitted", "submitted_at": now}
    if checked is not None:
        changes.update(_signed(checked, now))
    await _write(conn, ring, row, changes)
    return await _locked(conn, ring, instance_id)


async def sign(
    conn: asyncpg.Connection,
    ring: KeyRing,
    instance_id: uuid.UUID,
    signature: Signature,
    answers: Mapping[str, Any] | None = None,
) -> Row:
    """Sign the form (open or submitted); its answers (`answers`, which only an open form may
    still take, else those it holds) must then be complete. After this nothing changes."""
    row = await _locked(conn, ring, instance_id)
    _allow(row, "sign")
    if answers is not None and row["status"] != "open":
        raise InvalidTransition("form", row["status"], "fill", ACTIONS[row["status"]])
    checked = signature.checked()
    kept = check_answers(
        version_fields(row), row["answers"] if answers is None else answers,
        complete=True, signed=True,
    )  # fmt: skip
    now = datetime.now(UTC)
    changes: dict[str, Any] = {"answers": kept, **_signed(checked, now)}
    if row["submitted_at"] is None:
        changes["submitted_at"] = now
    await _write(conn, ring, row, changes)
    return await _locked(conn, ring, instance_id)


def _signed(signature: Signature, now: datetime) -> dict[str, Any]:
    return {
        "status": "signed",
        "signed_at": now,
        "signer_name": signature.signer_name,
        "signature_method": signature.method,
        "signature_image": signature.image,
        "signer_ip": signature.ip,
        "signer_user_agent": signature.user_agent,
        "signed_by": signature.signed_by,
    }


async def _write(
    conn: asyncpg.Connection, ring: KeyRing, row: Mapping[str, Any], changes: Mapping[str, Any]
) -> None:
    """Set `changes` on the instance, sealing what is sealed at rest."""
    values = dict(changes)
    row_id, org = row["id"], row["organization_id"]
    if "answers" in values:
        text = orjson.dumps(values["answers"]).decode()
        values["answers"] = _seal(ring, "answers", row_id, org, text)
    if values.get("signer_name") is not None:
        values["signer_name"] = _seal(ring, "signer_name", row_id, org, values["signer_name"])
    if values.get("signature_image") is not None:
        text = base64.b64encode(values["signature_image"]).decode()
        values["signature_image"] = _seal(ring, "signature_image", row_id, org, text)
    names = list(values)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    await conn.execute(
        f"UPDATE form_instances SET {sets}, updated_at = now() WHERE id = $1",
        row_id,
        *(values[n] for n in names),
    )


async def list_for_patient(
    conn: asyncpg.Connection,
    patient_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """The patient's forms, newest first, without their answers."""
    found = await conn.fetch(
        f"""{_SELECT}
            WHERE i.patient_id = $1
              AND ($2::timestamptz IS NULL OR (i.created_at, i.id) < ($2, $3::uuid))
            ORDER BY i.created_at DESC, i.id DESC LIMIT $4""",
        patient_id,
        None if before is None else before[0],
        None if before is None else before[1],
        limit,
    )
    return [{k: v for k, v in r.items() if k not in SEALED} for r in found]


async def form_document(keys: KeyRing, instance_id: uuid.UUID) -> dict[str, Any] | None:
    """What a printed form shows (the records' documents render a signed form from it), read in
    the caller's tenant transaction; None when there is no such form. See the package."""
    row = await get_instance(keys, instance_id)
    if row is None:
        return None
    names = await first(
        Patients.select(Patients.first_name, Patients.last_name)
        .where(Patients.id == row["patient_id"])
        .first()
    )
    signature = None
    if row["status"] == "signed":
        signature = {
            "signer_name": row["signer_name"],
            "signed_at": row["signed_at"],
            "method": row["signature_method"],
            "image": row["signature_image"],
            "ip": None if row["signer_ip"] is None else str(row["signer_ip"]),
            "user_agent": row["signer_user_agent"],
        }
    return {
        "id": row["id"],
        "patient_id": row["patient_id"],
        "patient_name": "" if names is None else f"{names['first_name']} {names['last_name']}",
        "status": row["status"],
        "template": {
            "id": row["template_id"],
            "name": row["template_name"],
            "version": row["version"],
        },
        "fields": [
            {
                "key": f.key,
                "label": f.label,
                "type": f.type,
                "options": None if f.options is None else list(f.options),
                "required": f.required,
            }
            for f in version_fields(row)
        ],
        "answers": dict(row["answers"]),
        "signature": signature,
    }
