"""JSON Schemas of the billing bodies and responses; the same dicts validate requests and are
published in the OpenAPI document. Money is integer minor units with an ISO 4217 code."""

from __future__ import annotations

from typing import Any

from server.routing import ID, STAMP, nullable, page, shape

Schema = dict[str, Any]

UUID: Schema = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
CURRENCY: Schema = {"type": "string", "pattern": "^[A-Z]{3}$"}
AMOUNT: Schema = {"type": "integer", "minimum": 0, "maximum": 100_000_000_000}
BASIS_POINTS: Schema = {"type": "integer", "minimum": 0, "maximum": 10_000}
DATE: Schema = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
INSTANT: Schema = {"type": "string", "format": "date-time"}
CODE: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,32}$"}
SKU: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
PRICE: Schema = {
    "type": "object",
    "properties": {"amount": AMOUNT, "currency": CURRENCY},
    "required": ["amount", "currency"],
    "additionalProperties": False,
}
PRICE_OUT = shape({"amount": {"type": "integer"}, "currency": {"type": "string"}})


def _object(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _patch(create: Schema) -> Schema:
    return {**create, "required": [], "minProperties": 1}


NO_BODY = _object({})

# --- catalog -----------------------------------------------------------------------------------

TAX_RATE_IN = _object(
    {"name": {"type": "string", "minLength": 1, "maxLength": 100}, "rate_bp": BASIS_POINTS},
    ("name", "rate_bp"),
)
TAX_RATE_PATCH = _patch(_object({**TAX_RATE_IN["properties"], "active": {"type": "boolean"}}))
TAX_RATE = shape(
    {"id": ID, "name": {"type": "string"}, "rate_bp": {"type": "integer"},
     "active": {"type": "boolean"}, "created_at": STAMP, "updated_at": STAMP}
)  # fmt: skip
TAX_RATES = shape({"data": {"type": "array", "items": TAX_RATE}})

SERVICE_BILLING_IN = _object(
    {
        "billing_model": {"enum": ["session_based", "time_based", "hybrid"]},
        "time_unit_min": nullable({"type": "integer", "minimum": 1, "maximum": 1440}),
        "rate_per_unit": nullable(AMOUNT),
        "service_code": nullable(CODE),
        "tax_rate_id": nullable(UUID),
    },
    ("billing_model",),
)
SERVICE_BILLING = shape(
    {
        "service_id": ID,
        "name": {"type": "string"},
        "price": PRICE_OUT,
        "billing_model": {"type": "string"},
        "time_unit_min": nullable({"type": "integer"}),
        "rate_per_unit": nullable({"type": "integer"}),
        "service_code": nullable({"type": "string"}),
        "tax_rate_id": nullable(ID),
    }
)

PRODUCT_IN = _object(
    {
        "name": NAME,
        "sku": nullable(SKU),
        "price": PRICE,
        "tax_rate_id": nullable(UUID),
        "stock": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
        "active": {"type": "boolean"},
    },
    ("name", "price"),
)
PRODUCT_PATCH = _patch(PRODUCT_IN)
PRODUCT = shape(
    {"id": ID, "name": {"type": "string"}, "sku": nullable({"type": "string"}), "price": PRICE_OUT,
     "tax_rate_id": nullable(ID), "stock": {"type": "integer"}, "active": {"type": "boolean"},
     "created_at": STAMP, "updated_at": STAMP}
)  # fmt: skip
PRODUCTS_PAGE = page(PRODUCT)

PLAN_PRODUCT_IN = _object(
    {"product_id": UUID, "quantity": {"type": "integer", "minimum": 1, "maximum": 1000}},
    ("product_id", "quantity"),
)
SERVICE_PLAN_IN = _object(
    {
        "name": NAME,
        "sessions": {"type": "integer", "minimum": 1, "maximum": 1000},
        "validity_days": {"type": "integer", "minimum": 1, "maximum": 3660},
        "price": PRICE,
        "tax_rate_id": nullable(UUID),
        "grants_telerehab": {"type": "boolean"},
        "service_ids": {"type": "array", "items": UUID, "minItems": 1, "maxItems": 50},
        "products": {"type": "array", "items": PLAN_PRODUCT_IN, "maxItems": 50},
    },
    ("name", "sessions", "validity_days", "price", "service_ids"),
)
SERVICE_PLAN_PATCH = _patch(
    _object(
        {
            key: SERVICE_PLAN_IN["properties"][key]
            for key in ("name", "sessions", "validity_days", "price", "tax_rate_id",
                        "grants_telerehab")
        }
        | {"active": {"type": "boolean"}}
    )
)  # fmt: skip
PLAN_PRODUCT = shape({"product_id": ID, "quantity": {"type": "integer"}})
SERVICE_PLAN = shape(
    {"id": ID, "name": {"type": "string"}, "sessions": {"type": "integer"},
     "validity_days": {"type": "integer"}, "price": PRICE_OUT, "tax_rate_id": nullable(ID),
     "grants_telerehab": {"type": "boolean"}, "active": {"type": "boolean"},
     "service_ids": {"type": "array", "items": ID},
     "products": {"type": "array", "items": PLAN_PRODUCT},
     "created_at": STAMP, "updated_at": STAMP}
)  # fmt: skip
SERVICE_PLANS_PAGE = page(SERVICE_PLAN)

# --- patient plans -----------------------------------------------------------------------------

PURCHASE_IN = _object({"service_plan_id": UUID, "valid_from": INSTANT}, ("service_plan_id",))
PATIENT_PLAN = shape(
    {"id": ID, "patient_id": ID, "service_plan_id": ID, "status": {"type": "string"},
     "sessions_total": {"type": "integer"}, "sessions_used": {"type": "integer"},
     "sessions_remaining": {"type": "integer"}, "valid_from": STAMP, "valid_until": STAMP,
     "grants_telerehab": {"type": "boolean"}, "price": PRICE_OUT,
     "tax_rate_bp": {"type": "integer"},
     "service_ids": {"type": "array", "items": ID}, "created_at": STAMP}
)  # fmt: skip
PATIENT_PLANS = shape({"data": {"type": "array", "items": PATIENT_PLAN}})
REDEMPTION = shape(
    {"id": ID, "appointment_id": ID, "redeemed_at": STAMP, "restored_at": nullable(STAMP)}
)
REDEMPTIONS = shape({"data": {"type": "array", "items": REDEMPTION}})

# --- invoices ----------------------------------------------------------------------------------

INVOICE_IN = _object({"patient_id": UUID, "currency": CURRENCY, "due_on": DATE},
                     ("patient_id", "currency"))  # fmt: skip
LINE_IN = _object(
    {
        "source": {"enum": ["appointment", "patient_plan", "product", "manual"]},
        "appointment_id": UUID,
        "patient_plan_id": UUID,
        "product_id": UUID,
        "quantity": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "description": {"type": "string", "minLength": 1, "maxLength": 500},
        "unit_price": AMOUNT,
        "tax_rate_id": UUID,
        "tax_rate_bp": BASIS_POINTS,
    },
    ("source",),
)
CREDIT_NOTE_IN = _object(
    {"line_ids": {"type": "array", "items": UUID, "minItems": 1, "maxItems": 500,
                  "uniqueItems": True}}
)  # fmt: skip
LINE = shape(
    {"id": ID, "position": {"type": "integer"}, "source": {"type": "string"},
     "appointment_id": nullable(ID), "patient_plan_id": nullable(ID), "product_id": nullable(ID),
     "service_id": nullable(ID), "service_code": nullable({"type": "string"}),
     "description": {"type": "string"}, "quantity": {"type": "integer"},
     "unit_price": {"type": "integer"}, "tax_rate_bp": {"type": "integer"},
     "net_amount": {"type": "integer"}, "tax_amount": {"type": "integer"},
     "gross_amount": {"type": "integer"}}
)  # fmt: skip
_INVOICE_FIELDS: Schema = {
    "id": ID, "patient_id": ID, "kind": {"enum": ["invoice", "credit_note"]},
    "credited_invoice_id": nullable(ID),
    "status": {"enum": ["draft", "issued", "paid", "partially_paid", "overdue", "void"]},
    "number": nullable({"type": "string"}), "currency": {"type": "string"},
    "issued_at": nullable(STAMP), "due_on": nullable({"type": "string"}),
    "subtotal_amount": {"type": "integer"}, "tax_amount": {"type": "integer"},
    "total_amount": {"type": "integer"}, "amount_paid": {"type": "integer"},
    "balance": {"type": "integer"}, "voided_at": nullable(STAMP),
    "allowed_actions": {"type": "array", "items": {"type": "string"}},
    "created_at": STAMP, "updated_at": STAMP,
}  # fmt: skip
INVOICE_SUMMARY = shape(_INVOICE_FIELDS)
INVOICE = shape({**_INVOICE_FIELDS, "lines": {"type": "array", "items": LINE}})
INVOICES_PAGE = page(INVOICE_SUMMARY)
