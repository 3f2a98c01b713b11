"""Billing: taxes, the plan and product catalog, purchased plans and their redemptions,
invoices and their lines (migrations m2026_12_05t01 and m2026_12_05t02, docs/billing.md).
Money columns are integer minor units; rates are basis points."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Boolean, Date, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class TaxRates(Table, tablename="tax_rates", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    rate_bp = Integer()
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Products(Table, tablename="products", db=ENGINE):
    """Primary key (organization_id, id); `stock` never below zero (a CHECK)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    sku = Text(null=True, default=None)
    price_amount = BigInt()
    price_currency = Text()
    tax_rate_id = UUID(null=True, default=None)
    stock = Integer(default=0)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ServicePlans(Table, tablename="service_plans", db=ENGINE):
    """Primary key (organization_id, id); a package of `sessions` of its services."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    sessions = Integer()
    validity_days = Integer()
    price_amount = BigInt()
    price_currency = Text()
    tax_rate_id = UUID(null=True, default=None)
    grants_telerehab = Boolean(default=False)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ServicePlanServices(Table, tablename="service_plan_services", db=ENGINE):
    """Primary key (organization_id, service_plan_id, service_id): Piccolo knows one column."""

    organization_id = UUID(primary_key=True)
    service_plan_id = UUID()
    service_id = UUID()


class ServicePlanProducts(Table, tablename="service_plan_products", db=ENGINE):
    """Primary key (organization_id, service_plan_id, product_id): Piccolo knows one column."""

    organization_id = UUID(primary_key=True)
    service_plan_id = UUID()
    product_id = UUID()
    quantity = Integer()


class PatientPlans(Table, tablename="patient_plans", db=ENGINE):
    """Primary key (organization_id, id); a purchased plan. `sessions_used` moves only with a
    redemption (the appointments trigger of m2026_12_05t01)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    service_plan_id = UUID()
    sessions_total = Integer()
    sessions_used = Integer(default=0)
    valid_from = Timestamptz()
    valid_until = Timestamptz()
    grants_telerehab = Boolean()
    price_amount = BigInt()
    price_currency = Text()
    tax_rate_bp = Integer()
    status = Text(default="active")
    purchased_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class PatientPlanServices(Table, tablename="patient_plan_services", db=ENGINE):
    """Primary key (organization_id, patient_plan_id, service_id): Piccolo knows one column."""

    organization_id = UUID(primary_key=True)
    patient_plan_id = UUID()
    service_id = UUID()


class PlanRedemptions(Table, tablename="plan_redemptions", db=ENGINE):
    """Primary key (organization_id, id); one live row per appointment (partial unique key)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_plan_id = UUID()
    patient_id = UUID()
    appointment_id = UUID()
    redeemed_at = Timestamptz(default=TimestamptzNow())
    restored_at = Timestamptz(null=True, default=None)


class InvoiceSeries(Table, tablename="invoice_series", db=ENGINE):
    """Primary key (organization_id, year): the last number issued in the clinic's year."""

    organization_id = UUID(primary_key=True)
    year = Integer()
    last_number = Integer()


class Invoices(Table, tablename="invoices", db=ENGINE):
    """Primary key (organization_id, id); immutable past draft but for its state and amount
    paid (database guards)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    kind = Text(default="invoice")
    credited_invoice_id = UUID(null=True, default=None)
    status = Text(default="draft")
    currency = Text()
    series_year = Integer(null=True, default=None)
    series_number = Integer(null=True, default=None)
    number = Text(null=True, default=None)
    issued_at = Timestamptz(null=True, default=None)
    due_on = Date(null=True, default=None)
    subtotal_amount = BigInt(default=0)
    tax_amount = BigInt(default=0)
    total_amount = BigInt(default=0)
    amount_paid = BigInt(default=0)
    voided_at = Timestamptz(null=True, default=None)
    created_by = UUID(null=True, default=None)
    issued_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class InvoiceLines(Table, tablename="invoice_lines", db=ENGINE):
    """Primary key (organization_id, id); written only while the invoice is a draft."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    invoice_id = UUID()
    position = Integer()
    source = Text()
    appointment_id = UUID(null=True, default=None)
    patient_plan_id = UUID(null=True, default=None)
    product_id = UUID(null=True, default=None)
    service_id = UUID(null=True, default=None)
    service_code = Text(null=True, default=None)
    description = Text()
    quantity = Integer()
    unit_price = BigInt()
    tax_rate_bp = Integer()
    net_amount = BigInt()
    tax_amount = BigInt()
    gross_amount = BigInt()
    created_at = Timestamptz(default=TimestamptzNow())
