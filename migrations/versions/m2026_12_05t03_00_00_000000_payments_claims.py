from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-05T03:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "payments, provider intents, insurance claims"

# Payments and insurance claims (docs/billing.md).
#
# A payment is money received against an invoice (cash, card, bank transfer, or from an
# insurer); a refund is a row of its own naming the payment it gives back, of the same invoice
# (the composite foreign key is the proof). Both are append-only for the application: money
# records are corrected by new rows, never edited. The invoice's `amount_paid` is the net of
# its rows (payments less refunds), moved in the same transaction, with the invoice row locked,
# so two payments of one invoice queue and the sum stays exact. A refund never gives back more
# than its payment: the payment row is locked while its refunds are summed.
#
# A payment intent is an online payment in progress at a provider (`manual`: the front desk
# confirms it; `test`: calls back over a signed webhook like a card processor). It succeeds at
# most once: UNIQUE (organization_id, intent_id) on payments is the proof that a replayed or
# duplicated callback records one payment. Webhook receipts remember each delivered
# `webhook-id` per provider, so a replay of the same delivery is answered without effect.
#
# An insurance claim asks an insurer to pay lines of an invoice that carry a service code.
# States (storage/claims/_states.py): draft -> submitted -> accepted | rejected; accepted ->
# paid (the insurer's payment, a payment row with method `insurer`); rejected -> draft
# (correction), then submitted again (`submissions` counts them). Every transition is a row of
# the claim's history. A line of an invoice is in at most one claim.
SQL = """
CREATE TABLE payment_intents (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  invoice_id uuid NOT NULL,
  provider text NOT NULL CHECK (provider IN ('manual', 'test')),
  provider_reference text NOT NULL CHECK (length(provider_reference) BETWEEN 1 AND 100),
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL DEFAULT 'requires_action'
    CHECK (status IN ('requires_action', 'succeeded', 'failed', 'cancelled')),
  failure_reason text CHECK (length(failure_reason) <= 200),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, id, invoice_id),
  UNIQUE (organization_id, provider, provider_reference),
  FOREIGN KEY (organization_id, invoice_id) REFERENCES invoices (organization_id, id),
  CHECK (status <> 'failed' OR failure_reason IS NOT NULL)
);
CREATE INDEX payment_intents_invoice ON payment_intents (organization_id, invoice_id, created_at);
SELECT enable_tenant_rls('payment_intents');
REVOKE DELETE, TRUNCATE ON payment_intents FROM cadence_app;

CREATE TABLE payments (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  invoice_id uuid NOT NULL,
  kind text NOT NULL DEFAULT 'payment' CHECK (kind IN ('payment', 'refund')),
  refund_of uuid,
  method text NOT NULL CHECK (method IN ('cash', 'card', 'bank_transfer', 'insurer')),
  amount bigint NOT NULL CHECK (amount > 0 AND amount <= 100000000000),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  reference text CHECK (length(reference) <= 200),
  intent_id uuid,
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  recorded_by uuid,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, id, invoice_id),
  UNIQUE (organization_id, intent_id),
  FOREIGN KEY (organization_id, invoice_id) REFERENCES invoices (organization_id, id),
  FOREIGN KEY (organization_id, refund_of, invoice_id)
    REFERENCES payments (organization_id, id, invoice_id),
  FOREIGN KEY (organization_id, intent_id, invoice_id)
    REFERENCES payment_intents (organization_id, id, invoice_id),
  CHECK ((kind = 'refund') = (refund_of IS NOT NULL)),
  CHECK (kind = 'payment' OR intent_id IS NULL)
);
CREATE INDEX payments_invoice ON payments (organization_id, invoice_id, received_at, id);
CREATE INDEX payments_refund_of ON payments (organization_id, refund_of) WHERE refund_of IS NOT NULL;
SELECT enable_tenant_rls('payments');
REVOKE UPDATE, DELETE, TRUNCATE ON payments FROM cadence_app;

CREATE TABLE payment_webhook_receipts (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  provider text NOT NULL CHECK (provider IN ('manual', 'test')),
  webhook_id text NOT NULL CHECK (length(webhook_id) BETWEEN 1 AND 200),
  event_type text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, provider, webhook_id)
);
SELECT enable_tenant_rls('payment_webhook_receipts');
REVOKE UPDATE, DELETE, TRUNCATE ON payment_webhook_receipts FROM cadence_app;

CREATE TABLE insurance_claims (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  invoice_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  insurer text NOT NULL CHECK (length(insurer) BETWEEN 1 AND 200),
  policy_number text CHECK (length(policy_number) <= 100),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'submitted', 'accepted', 'rejected', 'paid')),
  insurer_reference text CHECK (length(insurer_reference) <= 100),
  rejection_reason text CHECK (length(rejection_reason) <= 1000),
  submissions integer NOT NULL DEFAULT 0 CHECK (submissions >= 0),
  payment_id uuid,
  submitted_at timestamptz,
  decided_at timestamptz,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, id, invoice_id),
  FOREIGN KEY (organization_id, invoice_id) REFERENCES invoices (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, payment_id, invoice_id)
    REFERENCES payments (organization_id, id, invoice_id),
  CHECK (status NOT IN ('accepted', 'paid') OR insurer_reference IS NOT NULL),
  CHECK (status <> 'rejected' OR rejection_reason IS NOT NULL),
  CHECK ((status = 'paid') = (payment_id IS NOT NULL)),
  CHECK (status = 'draft' OR submissions >= 1)
);
CREATE INDEX insurance_claims_org ON insurance_claims (organization_id, created_at, id);
CREATE INDEX insurance_claims_invoice ON insurance_claims (organization_id, invoice_id);
SELECT enable_tenant_rls('insurance_claims');
REVOKE DELETE, TRUNCATE ON insurance_claims FROM cadence_app;

CREATE TABLE insurance_claim_lines (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  claim_id uuid NOT NULL,
  invoice_id uuid NOT NULL,
  invoice_line_id uuid NOT NULL,
  service_code text NOT NULL CHECK (length(service_code) BETWEEN 1 AND 32),
  amount bigint NOT NULL CHECK (amount > 0),
  PRIMARY KEY (organization_id, id),
  -- A line of an invoice is claimed once; a correction edits the same claim.
  UNIQUE (organization_id, invoice_line_id),
  FOREIGN KEY (organization_id, claim_id, invoice_id)
    REFERENCES insurance_claims (organization_id, id, invoice_id),
  FOREIGN KEY (organization_id, invoice_line_id) REFERENCES invoice_lines (organization_id, id)
);
CREATE INDEX insurance_claim_lines_claim ON insurance_claim_lines (organization_id, claim_id);
SELECT enable_tenant_rls('insurance_claim_lines');
REVOKE UPDATE, TRUNCATE ON insurance_claim_lines FROM cadence_app;

-- Lines change only while their claim is a draft, whoever writes them.
CREATE FUNCTION insurance_claim_lines_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  line insurance_claim_lines;
  state text;
BEGIN
  line := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  SELECT c.status INTO state FROM insurance_claims c
   WHERE c.organization_id = line.organization_id AND c.id = line.claim_id;
  IF state IS DISTINCT FROM 'draft' THEN
    RAISE EXCEPTION 'only a draft claim changes its lines'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN line;
END $$;
CREATE TRIGGER insurance_claim_lines_draft BEFORE INSERT OR UPDATE OR DELETE
  ON insurance_claim_lines FOR EACH ROW EXECUTE FUNCTION insurance_claim_lines_guard();

CREATE TABLE insurance_claim_history (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  claim_id uuid NOT NULL,
  action text NOT NULL CHECK (action IN ('create', 'submit', 'accept', 'reject', 'pay', 'correct')),
  from_status text,
  to_status text NOT NULL,
  insurer_reference text CHECK (length(insurer_reference) <= 100),
  rejection_reason text CHECK (length(rejection_reason) <= 1000),
  by_user uuid,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, claim_id) REFERENCES insurance_claims (organization_id, id)
);
CREATE INDEX insurance_claim_history_claim ON insurance_claim_history (organization_id, claim_id, at);
SELECT enable_tenant_rls('insurance_claim_history');
REVOKE UPDATE, DELETE, TRUNCATE ON insurance_claim_history FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
