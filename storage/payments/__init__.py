"""Payments of invoices (cash, card, bank transfer, insurer), refunds, and online payment
intents at a provider (`manual`, `test`) with their signed callbacks. An invoice's amount paid
and state move with its payments in one transaction, the invoice row locked (the state through
the invoice state machine: `storage.billing.apply_payment_state`). Every function runs inside
`Database.tenant(org)`."""

from storage.payments._intents import (
    apply_event,
    cancel_intent,
    confirm_manual,
    create_intent,
    get_intent,
)
from storage.payments._invoice import lock_invoice, settle
from storage.payments._providers import (
    MAX_WEBHOOK_BYTES,
    PROVIDERS,
    BadSignature,
    Callback,
    EventType,
    PaymentProvider,
    ProviderEvent,
    ProviderName,
    provider_secret,
    signed_callback,
    verify_callback,
)
from storage.payments._repository import (
    MAX_AMOUNT,
    MAX_REFERENCE,
    Method,
    check_amount,
    get_payment,
    invoice_for_payment,
    list_payments,
    record_payment,
    refund_payment,
    refunded_of,
)
from storage.payments._settlement import PAYABLE, REFUNDABLE

__all__ = [
    "MAX_AMOUNT",
    "MAX_REFERENCE",
    "MAX_WEBHOOK_BYTES",
    "PAYABLE",
    "PROVIDERS",
    "REFUNDABLE",
    "BadSignature",
    "Callback",
    "EventType",
    "Method",
    "PaymentProvider",
    "ProviderEvent",
    "ProviderName",
    "apply_event",
    "cancel_intent",
    "check_amount",
    "confirm_manual",
    "create_intent",
    "get_intent",
    "get_payment",
    "invoice_for_payment",
    "list_payments",
    "lock_invoice",
    "record_payment",
    "refund_payment",
    "refunded_of",
    "settle",
    "signed_callback",
    "provider_secret",
    "verify_callback",
]
