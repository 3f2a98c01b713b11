from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T02:20:00:000000"
VERSION = "1.0"
DESCRIPTION = "scheduling catalog: specialties, specialists, working hours, services, patients"

# Every child table carries organization_id and references its parent through the composite
# (organization_id, id): foreign-key checks bypass row-level security, so only the composite key
# stops a row of one tenant from pointing at another tenant's row.
SQL = """
CREATE TABLE specialties (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id)
);
CREATE UNIQUE INDEX specialties_name ON specialties (organization_id, lower(name));
SELECT enable_tenant_rls('specialties');

CREATE TABLE specialists (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  user_id uuid,  -- identity's users(id); no FK, that table is owned by the identity domain
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  timezone text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  UNIQUE (organization_id, id)
);
CREATE UNIQUE INDEX specialists_user ON specialists (organization_id, user_id)
  WHERE user_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX specialists_org_created ON specialists (organization_id, created_at, id);
SELECT enable_tenant_rls('specialists');

CREATE TABLE specialist_specialties (
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  specialist_id uuid NOT NULL,
  specialty_id uuid NOT NULL,
  PRIMARY KEY (specialist_id, specialty_id),
  FOREIGN KEY (organization_id, specialist_id)
    REFERENCES specialists (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, specialty_id)
    REFERENCES specialties (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX specialist_specialties_specialty ON specialist_specialties (specialty_id);
SELECT enable_tenant_rls('specialist_specialties');

-- Weekly hours in minutes of the specialist's local day: [start_min, end_min), 1440 = 24:00.
CREATE TABLE specialist_hours (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  specialist_id uuid NOT NULL,
  weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
  start_min smallint NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
  end_min smallint NOT NULL CHECK (end_min BETWEEN 1 AND 1440),
  CHECK (end_min > start_min),
  FOREIGN KEY (organization_id, specialist_id)
    REFERENCES specialists (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX specialist_hours_specialist ON specialist_hours (specialist_id, weekday, start_min);
SELECT enable_tenant_rls('specialist_hours');

-- One override per specialist and local date; hours = [[start_min, end_min], ...], [] = day off.
CREATE TABLE specialist_overrides (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  specialist_id uuid NOT NULL,
  date date NOT NULL,
  hours jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(hours) = 'array'),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (specialist_id, date),
  FOREIGN KEY (organization_id, specialist_id)
    REFERENCES specialists (organization_id, id) ON DELETE CASCADE
);
SELECT enable_tenant_rls('specialist_overrides');

CREATE TABLE services (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  duration_min integer NOT NULL CHECK (duration_min BETWEEN 1 AND 1440),
  buffer_before_min integer NOT NULL DEFAULT 0 CHECK (buffer_before_min BETWEEN 0 AND 240),
  buffer_after_min integer NOT NULL DEFAULT 0 CHECK (buffer_after_min BETWEEN 0 AND 240),
  modality text NOT NULL CHECK (modality IN ('in_clinic', 'virtual')),
  price_amount bigint NOT NULL DEFAULT 0 CHECK (price_amount >= 0),
  price_currency text NOT NULL DEFAULT 'EUR' CHECK (price_currency ~ '^[A-Z]{3}$'),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  UNIQUE (organization_id, id)
);
CREATE INDEX services_org_created ON services (organization_id, created_at, id);
SELECT enable_tenant_rls('services');

CREATE TABLE patients (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  user_id uuid,  -- identity's users(id) once the patient has an account; no FK (see specialists)
  first_name text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
  last_name text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
  email text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
  phone text CHECK (phone IS NULL OR length(phone) BETWEEN 3 AND 32),
  date_of_birth date,
  guest boolean NOT NULL DEFAULT false,
  consent_analytics boolean NOT NULL DEFAULT true,
  consent_marketing boolean NOT NULL DEFAULT false,
  consent_telerehab boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  UNIQUE (organization_id, id)
);
CREATE INDEX patients_org_created ON patients (organization_id, created_at, id);
-- Search by name (accent- and case-insensitive), e-mail and phone digits; the query side uses
-- exactly these expressions so that the trigram indexes apply.
CREATE INDEX patients_name_trgm ON patients
  USING gin (f_unaccent(lower(first_name || ' ' || last_name)) gin_trgm_ops);
CREATE INDEX patients_email_trgm ON patients USING gin (lower(email) gin_trgm_ops);
CREATE INDEX patients_phone_trgm ON patients
  USING gin (regexp_replace(phone, '[^0-9]', '', 'g') gin_trgm_ops);
SELECT enable_tenant_rls('patients');
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
