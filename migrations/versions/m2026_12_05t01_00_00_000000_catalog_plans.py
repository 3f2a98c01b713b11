from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-05T01:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "service billing models, codes, taxes, plans, products, patient plans"

# The billing catalog (docs/billing.md).
#
# A service gains how it is billed: `session_based` (its price per session), `time_based` (a
# rate per started unit of time, e.g. 1500 per 15 minutes) or `hybrid` (the price as a base
# fee plus the rate per started unit); a service code (what an insurer's claim names) and the
# clinic's VAT rate that applies to it. Money is integer minor units; a rate is basis points
# (1900 = 19 %), never a float.
#
# A service plan is a package sold to a patient: N sessions of the listed services, valid for
# a number of days from purchase, optionally granting telerehab access, optionally bundled with
# products. A product has a price and a stock count (never below zero: the CHECK is the proof
# when two sales race for the last item).
#
# A patient plan is a purchased plan: what it covers is copied at purchase (editing the plan
# later changes no purchase), with sessions used out of the total and a validity window.
# A plan redemption records that one completed appointment used one session of one patient
# plan. The partial unique key (organization_id, appointment_id) WHERE restored_at IS NULL is
# the proof of "exactly once": a retried completion, or one racing a cancellation, can never
# make a second live redemption of the same appointment. An undone completion marks its
# redemption restored (kept as history) and gives the session back.
#
# Why a trigger and not a call in storage/scheduling: the redemption must commit or roll back
# with the status change, whoever writes it (the calendar shard's status change, a walk-in, a
# seed or a repair), and the notification outbox already follows this shape on the same table
# (m2026_12_03t03). The status UPDATE holds the appointment's row lock, so two transitions of
# one appointment are serialized before the trigger runs, and the patient plan is locked
# (FOR UPDATE) while a session is taken, so two appointments of one patient completing at once
# cannot both take the last session (the CHECK on sessions_used is the proof).
SQL = """
CREATE TABLE tax_rates (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  rate_bp integer NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id)
);
CREATE UNIQUE INDEX tax_rates_name ON tax_rates (organization_id, lower(name));
SELECT enable_tenant_rls('tax_rates');
REVOKE DELETE, TRUNCATE ON tax_rates FROM cadence_app;

ALTER TABLE services
  ADD COLUMN billing_model text NOT NULL DEFAULT 'session_based'
    CHECK (billing_model IN ('session_based', 'time_based', 'hybrid')),
  ADD COLUMN time_unit_min integer CHECK (time_unit_min BETWEEN 1 AND 1440),
  ADD COLUMN rate_per_unit bigint CHECK (rate_per_unit >= 0),
  ADD COLUMN service_code text CHECK (service_code ~ '^[A-Za-z0-9._-]{1,32}$'),
  ADD COLUMN tax_rate_id uuid,
  ADD CONSTRAINT services_tax_rate_fkey FOREIGN KEY (organization_id, tax_rate_id)
    REFERENCES tax_rates (organization_id, id),
  ADD CONSTRAINT services_billing_rate CHECK (
    (billing_model = 'session_based') = (time_unit_min IS NULL AND rate_per_unit IS NULL)
    AND (time_unit_min IS NULL) = (rate_per_unit IS NULL));
CREATE UNIQUE INDEX services_code ON services (organization_id, service_code)
  WHERE service_code IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE products (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  sku text CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
  price_amount bigint NOT NULL CHECK (price_amount >= 0),
  price_currency text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
  tax_rate_id uuid,
  stock integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, tax_rate_id) REFERENCES tax_rates (organization_id, id)
);
CREATE UNIQUE INDEX products_sku ON products (organization_id, sku) WHERE sku IS NOT NULL;
CREATE INDEX products_org_created ON products (organization_id, created_at, id);
SELECT enable_tenant_rls('products');
REVOKE DELETE, TRUNCATE ON products FROM cadence_app;

CREATE TABLE service_plans (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  sessions integer NOT NULL CHECK (sessions BETWEEN 1 AND 1000),
  validity_days integer NOT NULL CHECK (validity_days BETWEEN 1 AND 3660),
  price_amount bigint NOT NULL CHECK (price_amount >= 0),
  price_currency text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
  tax_rate_id uuid,
  grants_telerehab boolean NOT NULL DEFAULT false,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, tax_rate_id) REFERENCES tax_rates (organization_id, id)
);
CREATE INDEX service_plans_org_created ON service_plans (organization_id, created_at, id);
SELECT enable_tenant_rls('service_plans');
REVOKE DELETE, TRUNCATE ON service_plans FROM cadence_app;

-- The services a plan's sessions may be used for, and the products bundled with it.
CREATE TABLE service_plan_services (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  service_plan_id uuid NOT NULL,
  service_id uuid NOT NULL,
  PRIMARY KEY (organization_id, service_plan_id, service_id),
  FOREIGN KEY (organization_id, service_plan_id)
    REFERENCES service_plans (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id)
);
SELECT enable_tenant_rls('service_plan_services');

CREATE TABLE service_plan_products (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  service_plan_id uuid NOT NULL,
  product_id uuid NOT NULL,
  quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
  PRIMARY KEY (organization_id, service_plan_id, product_id),
  FOREIGN KEY (organization_id, service_plan_id)
    REFERENCES service_plans (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, product_id) REFERENCES products (organization_id, id)
);
SELECT enable_tenant_rls('service_plan_products');

CREATE TABLE patient_plans (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  service_plan_id uuid NOT NULL,
  sessions_total integer NOT NULL CHECK (sessions_total BETWEEN 1 AND 1000),
  sessions_used integer NOT NULL DEFAULT 0,
  valid_from timestamptz NOT NULL,
  valid_until timestamptz NOT NULL,
  grants_telerehab boolean NOT NULL,
  price_amount bigint NOT NULL CHECK (price_amount >= 0),
  price_currency text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
  tax_rate_bp integer NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
  purchased_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  -- For the redemptions' foreign key: a redemption's patient is its plan's.
  UNIQUE (organization_id, id, patient_id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, service_plan_id) REFERENCES service_plans (organization_id, id),
  CHECK (sessions_used BETWEEN 0 AND sessions_total),
  CHECK (valid_until > valid_from)
);
CREATE INDEX patient_plans_patient ON patient_plans (organization_id, patient_id, valid_until, id);
SELECT enable_tenant_rls('patient_plans');
REVOKE DELETE, TRUNCATE ON patient_plans FROM cadence_app;

CREATE TABLE patient_plan_services (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_plan_id uuid NOT NULL,
  service_id uuid NOT NULL,
  PRIMARY KEY (organization_id, patient_plan_id, service_id),
  FOREIGN KEY (organization_id, patient_plan_id) REFERENCES patient_plans (organization_id, id),
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id)
);
SELECT enable_tenant_rls('patient_plan_services');
REVOKE UPDATE, DELETE, TRUNCATE ON patient_plan_services FROM cadence_app;

CREATE TABLE plan_redemptions (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_plan_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  appointment_id uuid NOT NULL,
  redeemed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  restored_at timestamptz,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_plan_id, patient_id)
    REFERENCES patient_plans (organization_id, id, patient_id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  CHECK (restored_at IS NULL OR restored_at >= redeemed_at)
);
CREATE UNIQUE INDEX plan_redemptions_live ON plan_redemptions (organization_id, appointment_id)
  WHERE restored_at IS NULL;
CREATE INDEX plan_redemptions_plan ON plan_redemptions (organization_id, patient_plan_id, id);
SELECT enable_tenant_rls('plan_redemptions');
-- History: a redemption is never removed; the only change is its restoration.
REVOKE UPDATE, DELETE, TRUNCATE ON plan_redemptions FROM cadence_app;
GRANT UPDATE (restored_at) ON plan_redemptions TO cadence_app;

-- A completion takes one session of the patient's plan that covers the service and the day,
-- the one that runs out first; no covering plan with a session left: nothing (the visit is
-- billed on its own). Leaving `completed` (an undone completion) gives the session back.
CREATE FUNCTION billing_on_appointment_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  plan_id uuid;
BEGIN
  IF NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed' THEN
    IF EXISTS (SELECT 1 FROM plan_redemptions r
                WHERE r.organization_id = NEW.organization_id
                  AND r.appointment_id = NEW.id AND r.restored_at IS NULL) THEN
      RETURN NULL;
    END IF;
    SELECT pp.id INTO plan_id
      FROM patient_plans pp
      JOIN patient_plan_services ps
        ON ps.organization_id = pp.organization_id AND ps.patient_plan_id = pp.id
     WHERE pp.organization_id = NEW.organization_id AND pp.patient_id = NEW.patient_id
       AND ps.service_id = NEW.service_id AND pp.status = 'active'
       AND pp.sessions_used < pp.sessions_total
       AND NEW.starts_at >= pp.valid_from AND NEW.starts_at < pp.valid_until
     ORDER BY pp.valid_until, pp.created_at, pp.id
     LIMIT 1
       FOR UPDATE OF pp;
    IF plan_id IS NULL THEN
      RETURN NULL;
    END IF;
    UPDATE patient_plans SET sessions_used = sessions_used + 1, updated_at = now()
     WHERE organization_id = NEW.organization_id AND id = plan_id;
    INSERT INTO plan_redemptions (organization_id, patient_plan_id, patient_id, appointment_id)
    VALUES (NEW.organization_id, plan_id, NEW.patient_id, NEW.id);
  ELSIF OLD.status = 'completed' AND NEW.status IS DISTINCT FROM 'completed' THEN
    WITH restored AS (
      UPDATE plan_redemptions SET restored_at = clock_timestamp()
       WHERE organization_id = NEW.organization_id AND appointment_id = NEW.id
         AND restored_at IS NULL
      RETURNING patient_plan_id
    )
    UPDATE patient_plans pp SET sessions_used = pp.sessions_used - 1, updated_at = now()
      FROM restored WHERE pp.organization_id = NEW.organization_id
                      AND pp.id = restored.patient_plan_id;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER appointments_plan_redemption AFTER UPDATE OF status ON appointments
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION billing_on_appointment_status();
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
