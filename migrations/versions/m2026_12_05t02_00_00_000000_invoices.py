from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-05T02:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "invoices, numbering series, credit notes"

# Invoices (docs/billing.md).
#
# Numbering: one gapless series per clinic and calendar year (`2026-000123`), invoices and
# credit notes alike. The number is taken when an invoice is issued, never at draft, by
# incrementing the series' counter row in the issuing transaction: the row stays locked until
# that transaction ends, so concurrent issues queue on it, and a rolled-back issue rolls back
# its increment too (no gap). UNIQUE (organization_id, number) is the proof of distinctness.
#
# States (pipelines/billing/_states.py holds the table of transitions):
#   draft -> issued -> paid | partially_paid | overdue | void;  draft -> void (discarded draft)
# `amount_paid` is the net of the invoice's payments; the payments feature sets it through
# storage.billing.apply_payment_state, which moves the state with it.
#
# Immutability (ARCHITECTURE.md invariant 9): once an invoice leaves draft its content (lines,
# totals, number, patient, currency) never changes, enforced by the guards below for every
# role the application uses; only its state, amount paid and the time of its last change move.
# A correction is a credit note: an invoice of kind `credit_note` naming the original, with
# its own number; its amounts are positive and mean money owed back.
#
# Line amounts are integer minor units: net = quantity x unit price, tax per line rounded half
# up from basis points, gross = net + tax (pipelines/billing/_money.py). The invoice's totals
# are the sums of its lines, written with the lines in one transaction.
SQL = """
CREATE TABLE invoice_series (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  year integer NOT NULL CHECK (year BETWEEN 2000 AND 9999),
  last_number integer NOT NULL CHECK (last_number BETWEEN 0 AND 999999999),
  PRIMARY KEY (organization_id, year)
);
SELECT enable_tenant_rls('invoice_series');
REVOKE DELETE, TRUNCATE ON invoice_series FROM cadence_app;

CREATE TABLE invoices (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  kind text NOT NULL DEFAULT 'invoice' CHECK (kind IN ('invoice', 'credit_note')),
  credited_invoice_id uuid,
  status text NOT NULL DEFAULT 'draft' CHECK (status IN
    ('draft', 'issued', 'paid', 'partially_paid', 'overdue', 'void')),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  series_year integer,
  series_number integer,
  number text,
  issued_at timestamptz,
  due_on date,
  subtotal_amount bigint NOT NULL DEFAULT 0 CHECK (subtotal_amount >= 0),
  tax_amount bigint NOT NULL DEFAULT 0 CHECK (tax_amount >= 0),
  total_amount bigint NOT NULL DEFAULT 0 CHECK (total_amount >= 0),
  amount_paid bigint NOT NULL DEFAULT 0,
  voided_at timestamptz,
  created_by uuid,
  issued_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, number),
  UNIQUE (organization_id, series_year, series_number),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, credited_invoice_id) REFERENCES invoices (organization_id, id),
  CHECK ((kind = 'credit_note') = (credited_invoice_id IS NOT NULL)),
  CHECK (total_amount = subtotal_amount + tax_amount),
  -- A number exactly when issued (a discarded draft is void without one).
  CHECK ((number IS NULL) = (issued_at IS NULL)),
  CHECK ((number IS NULL) = (series_number IS NULL) AND (number IS NULL) = (series_year IS NULL)),
  CHECK (number IS NULL OR number = series_year::text || '-' || lpad(series_number::text, 6, '0')),
  CHECK (status IN ('draft', 'void') OR number IS NOT NULL),
  CHECK (status <> 'draft' OR number IS NULL),
  CHECK ((status = 'void') = (voided_at IS NOT NULL)),
  CHECK (status <> 'draft' OR amount_paid = 0)
);
CREATE INDEX invoices_org_created ON invoices (organization_id, created_at, id);
-- The overdue sweep's claim (actors/billing): open invoices by due date, across clinics.
CREATE INDEX invoices_open_due ON invoices (due_on, id)
  WHERE status IN ('issued', 'partially_paid') AND due_on IS NOT NULL;
CREATE INDEX invoices_patient ON invoices (organization_id, patient_id, created_at, id);
CREATE INDEX invoices_credited ON invoices (organization_id, credited_invoice_id)
  WHERE credited_invoice_id IS NOT NULL;
SELECT enable_tenant_rls('invoices');
REVOKE TRUNCATE ON invoices FROM cadence_app;

CREATE TABLE invoice_lines (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  invoice_id uuid NOT NULL,
  position integer NOT NULL CHECK (position BETWEEN 1 AND 10000),
  source text NOT NULL CHECK (source IN ('appointment', 'patient_plan', 'product', 'manual')),
  appointment_id uuid,
  patient_plan_id uuid,
  product_id uuid,
  service_id uuid,
  service_code text,
  description text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
  quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
  unit_price bigint NOT NULL CHECK (unit_price BETWEEN 0 AND 100000000000),
  tax_rate_bp integer NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
  net_amount bigint NOT NULL CHECK (net_amount >= 0),
  tax_amount bigint NOT NULL CHECK (tax_amount >= 0),
  gross_amount bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, invoice_id, position) DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (organization_id, invoice_id) REFERENCES invoices (organization_id, id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, patient_plan_id) REFERENCES patient_plans (organization_id, id),
  FOREIGN KEY (organization_id, product_id) REFERENCES products (organization_id, id),
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id),
  CHECK (net_amount = quantity * unit_price),
  CHECK (gross_amount = net_amount + tax_amount),
  CHECK ((source = 'appointment') = (appointment_id IS NOT NULL)),
  CHECK ((source = 'patient_plan') = (patient_plan_id IS NOT NULL)),
  CHECK ((source = 'product') = (product_id IS NOT NULL))
);
CREATE INDEX invoice_lines_appointment ON invoice_lines (organization_id, appointment_id)
  WHERE appointment_id IS NOT NULL;
CREATE INDEX invoice_lines_plan ON invoice_lines (organization_id, patient_plan_id)
  WHERE patient_plan_id IS NOT NULL;
SELECT enable_tenant_rls('invoice_lines');
REVOKE UPDATE, TRUNCATE ON invoice_lines FROM cadence_app;

-- The guards: an invoice past draft changes only its state, amount paid and updated_at (and
-- voided_at with a void); it is never deleted; its lines neither change nor come and go.
CREATE FUNCTION invoices_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'issued invoices are immutable' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status = 'draft' THEN
    RETURN NEW;
  END IF;
  IF (NEW.id, NEW.organization_id, NEW.patient_id, NEW.kind, NEW.credited_invoice_id,
      NEW.currency, NEW.series_year, NEW.series_number, NEW.number, NEW.issued_at, NEW.due_on,
      NEW.subtotal_amount, NEW.tax_amount, NEW.total_amount, NEW.created_by, NEW.issued_by,
      NEW.created_at)
     IS DISTINCT FROM
     (OLD.id, OLD.organization_id, OLD.patient_id, OLD.kind, OLD.credited_invoice_id,
      OLD.currency, OLD.series_year, OLD.series_number, OLD.number, OLD.issued_at, OLD.due_on,
      OLD.subtotal_amount, OLD.tax_amount, OLD.total_amount, OLD.created_by, OLD.issued_by,
      OLD.created_at)
     OR OLD.status = 'void' THEN
    RAISE EXCEPTION 'issued invoices are immutable' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
  FOR EACH ROW EXECUTE FUNCTION invoices_guard();

CREATE FUNCTION invoice_lines_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  line invoice_lines;
  state text;
BEGIN
  line := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  SELECT i.status INTO state FROM invoices i
   WHERE i.organization_id = line.organization_id AND i.id = line.invoice_id;
  IF state IS DISTINCT FROM 'draft' THEN
    RAISE EXCEPTION 'issued invoices are immutable' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN line;
END $$;
CREATE TRIGGER invoice_lines_immutable BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
  FOR EACH ROW EXECUTE FUNCTION invoice_lines_guard();

-- Invoices are a document kind of the records renderer.
ALTER TABLE documents DROP CONSTRAINT documents_kind_check;
ALTER TABLE documents ADD CONSTRAINT documents_kind_check CHECK (kind IN
  ('session_report', 'appointment_summary', 'handout', 'signed_form', 'invoice'));
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
