"""Payments, provider intents, webhook receipts and insurance claims (storage/payments,
storage/claims). Amounts are integer minor units."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class PaymentIntents(Table, tablename="payment_intents", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    invoice_id = UUID()
    provider = Text()
    provider_reference = Text()
    amount = BigInt()
    currency = Text()
    status = Text(default="requires_action")
    failure_reason = Text(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Payments(Table, tablename="payments", db=ENGINE):
    """Primary key (organization_id, id); append-only for the application."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    invoice_id = UUID()
    kind = Text(default="payment")
    refund_of = UUID(null=True, default=None)
    method = Text()
    amount = BigInt()
    currency = Text()
    reference = Text(null=True, default=None)
    intent_id = UUID(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())
    recorded_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class PaymentWebhookReceipts(Table, tablename="payment_webhook_receipts", db=ENGINE):
    """Primary key (organization_id, provider, webhook_id); Piccolo needs one column, so it is
    told `webhook_id` (the receipts are only inserted and counted)."""

    organization_id = UUID()
    provider = Text()
    webhook_id = Text(primary_key=True)
    event_type = Text()
    received_at = Timestamptz(default=TimestamptzNow())


class InsuranceClaims(Table, tablename="insurance_claims", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    invoice_id = UUID()
    patient_id = UUID()
    insurer = Text()
    policy_number = Text(null=True, default=None)
    currency = Text()
    status = Text(default="draft")
    insurer_reference = Text(null=True, default=None)
    rejection_reason = Text(null=True, default=None)
    submissions = Integer(default=0)
    payment_id = UUID(null=True, default=None)
    submitted_at = Timestamptz(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class InsuranceClaimLines(Table, tablename="insurance_claim_lines", db=ENGINE):
    """Primary key (organization_id, id); changes only while its claim is a draft (trigger)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    claim_id = UUID()
    invoice_id = UUID()
    invoice_line_id = UUID()
    service_code = Text()
    amount = BigInt()


class InsuranceClaimHistory(Table, tablename="insurance_claim_history", db=ENGINE):
    """Primary key (organization_id, id); append-only: one row per transition."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    claim_id = UUID()
    action = Text()
    from_status = Text(null=True, default=None)
    to_status = Text()
    insurer_reference = Text(null=True, default=None)
    rejection_reason = Text(null=True, default=None)
    by_user = UUID(null=True, default=None)
    at = Timestamptz(default=TimestamptzNow())
