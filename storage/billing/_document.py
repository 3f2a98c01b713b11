"""What an invoice's PDF prints (a document kind of the records renderer: pipelines/documents
draws it, server/records/documents.py serves it)."""

from __future__ import annotations

import uuid

from pipelines.billing import format_amount
from pipelines.documents import Invoice, InvoiceLine
from storage.billing._invoices import get_invoice
from storage.documents import Subject
from storage.errors import Conflict, NotFound
from storage.orm import first
from storage.tables import Invoices, Patients


def _rate(bp: int) -> str:
    whole, rest = divmod(bp, 100)
    return f"{whole} %" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + " %"


async def invoice_document(invoice_id: uuid.UUID, *, patient_id: uuid.UUID | None) -> Subject:
    """The invoice as its document; NotFound when it is not visible (or not the patient's own
    when `patient_id` is given), 409 `not_issued` for a draft (a draft has no number yet)."""
    invoice = await get_invoice(invoice_id, patient_id=patient_id)
    if invoice is None:
        raise NotFound("invoice")
    if invoice["number"] is None:
        raise Conflict("a draft invoice has no document yet", code="not_issued")
    patient = await first(
        Patients.select(Patients.first_name, Patients.last_name)
        .where(Patients.id == invoice["patient_id"])
        .first()
    )
    credited = None
    if invoice["credited_invoice_id"] is not None:
        original = await first(
            Invoices.select(Invoices.number)
            .where(Invoices.id == invoice["credited_invoice_id"])
            .first()
        )
        credited = None if original is None else original["number"]
    cur = invoice["currency"]
    body = Invoice(
        number=invoice["number"],
        kind=invoice["kind"],
        credited_number=credited,
        patient_name="" if patient is None else f"{patient['first_name']} {patient['last_name']}",
        currency=cur,
        issued_at=invoice["issued_at"],
        due_on=None if invoice["due_on"] is None else invoice["due_on"].isoformat(),
        lines=tuple(
            InvoiceLine(
                description=line["description"],
                service_code=line["service_code"],
                quantity=line["quantity"],
                unit_price=format_amount(line["unit_price"], cur),
                tax_rate=_rate(line["tax_rate_bp"]),
                net=format_amount(line["net_amount"], cur),
                tax=format_amount(line["tax_amount"], cur),
                gross=format_amount(line["gross_amount"], cur),
            )
            for line in invoice["lines"]
        ),
        subtotal=format_amount(invoice["subtotal_amount"], cur),
        tax=format_amount(invoice["tax_amount"], cur),
        total=format_amount(invoice["total_amount"], cur),
    )
    return Subject(body, invoice["id"], invoice["patient_id"])
