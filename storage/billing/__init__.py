"""Money: the billing catalog (VAT rates, services' billing terms, products, service plans),
patients' purchased plans and the sessions they redeem, and invoices with their gapless
numbering and credit notes (docs/billing.md). Every function runs inside
`Database.tenant(org)`; arithmetic and the invoice state machine are pipelines/billing's.

For the payments feature: `apply_payment_state(conn, org, invoice_id, amount_paid=...)` records
an invoice's amount paid (net of refunds) and moves its state (paid, partially_paid, back to
issued), in the payment's transaction.

`sweep_overdue` and `overdue_pending` run on the platform connection (every clinic at once):
they serve the overdue pump of actors/billing.
"""

from storage.billing._catalog import (
    create_product,
    create_service_plan,
    create_tax_rate,
    get_product,
    get_service_billing,
    get_service_plan,
    get_tax_rate,
    list_products,
    list_service_plans,
    list_tax_rates,
    set_service_billing,
    update_product,
    update_service_plan,
    update_tax_rate,
)
from storage.billing._document import invoice_document
from storage.billing._errors import CurrencyMismatch
from storage.billing._invoices import (
    LineSpec,
    add_line,
    apply_payment_state,
    create_credit_note,
    create_invoice,
    get_invoice,
    invoice_lines,
    issue_invoice,
    list_invoices,
    mark_overdue,
    remove_line,
    void_invoice,
)
from storage.billing._overdue import overdue_pending, sweep_overdue
from storage.billing._plans import (
    cancel_patient_plan,
    get_patient_plan,
    list_patient_plans,
    live_redemption,
    plan_redemptions,
    purchase_plan,
    telerehab_granted,
)

__all__ = [
    "CurrencyMismatch",
    "LineSpec",
    "add_line",
    "apply_payment_state",
    "cancel_patient_plan",
    "create_credit_note",
    "create_invoice",
    "create_product",
    "create_service_plan",
    "create_tax_rate",
    "get_invoice",
    "get_patient_plan",
    "get_product",
    "get_service_billing",
    "get_service_plan",
    "get_tax_rate",
    "invoice_document",
    "invoice_lines",
    "issue_invoice",
    "list_invoices",
    "list_patient_plans",
    "list_products",
    "list_service_plans",
    "list_tax_rates",
    "live_redemption",
    "mark_overdue",
    "overdue_pending",
    "plan_redemptions",
    "purchase_plan",
    "telerehab_granted",
    "remove_line",
    "set_service_billing",
    "sweep_overdue",
    "update_product",
    "update_service_plan",
    "update_tax_rate",
    "void_invoice",
]
