from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-04T02:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "custom fields, versioned forms, signed instances and intake tokens"

# A clinic's fields (`form_fields`) are edited freely; a template (`form_templates`) is its draft
# (a name, a kind and an ordered list of field ids); publishing copies the fields as they are
# into `form_template_versions`, which nothing changes afterwards (the trigger holds for every
# writer). A form instance pins one version, so later edits never change what a patient filled in.
#
# A signed instance is immutable in the database: its guard refuses UPDATE and DELETE, for the
# application role always; the schema owner may only blank what identifies the patient (erasure)
# or re-seal the sealed columns (key rotation), and the record of the signature stays in place.
# Answers, the signer's name and a drawn signature are sealed at rest (storage/sealed.py).
#
# Intake by link: one row per appointment holds its intake status (`sent`, `completed`; no row is
# `not_sent`), the form it sent, and the SHA-256 of the single-purpose token (the token itself is
# never stored). The public routes find the token's organization through a SECURITY DEFINER
# function that answers nothing but the organization id, then work in that tenant.
SQL = """
CREATE TABLE form_fields (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
  label text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
  field_type text NOT NULL CHECK (field_type IN
    ('text', 'number', 'choice', 'date', 'scale', 'yes_no', 'signature')),
  options jsonb CHECK (options IS NULL OR jsonb_typeof(options) = 'array'),
  min_value double precision,
  max_value double precision,
  required boolean NOT NULL DEFAULT false,
  -- For the intake summary: a "yes" to a red-flag question, a value at or above `alert_at`.
  red_flag boolean NOT NULL DEFAULT false,
  alert_at double precision,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, key),
  CHECK ((field_type = 'choice') = (options IS NOT NULL)),
  CHECK (min_value IS NULL OR max_value IS NULL OR min_value <= max_value)
);
SELECT enable_tenant_rls('form_fields');
REVOKE DELETE, TRUNCATE ON form_fields FROM cadence_app;

CREATE TABLE form_templates (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('intake', 'consent', 'assessment', 'other')),
  field_ids uuid[] NOT NULL DEFAULT '{}' CHECK (cardinality(field_ids) <= 200),
  current_version integer,  -- the newest published version; NULL: never published
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX form_templates_org_name ON form_templates (organization_id, lower(name), id);
SELECT enable_tenant_rls('form_templates');
REVOKE DELETE, TRUNCATE ON form_templates FROM cadence_app;

CREATE TABLE form_template_versions (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  template_id uuid NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  name text NOT NULL,
  kind text NOT NULL,
  fields jsonb NOT NULL CHECK (jsonb_typeof(fields) = 'array'),
  published_by uuid,
  published_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, template_id, version),
  UNIQUE (organization_id, id, template_id),
  FOREIGN KEY (organization_id, template_id) REFERENCES form_templates (organization_id, id)
);
SELECT enable_tenant_rls('form_template_versions');

CREATE FUNCTION form_template_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'published form versions are immutable' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER form_template_versions_immutable
  BEFORE UPDATE OR DELETE ON form_template_versions
  FOR EACH ROW EXECUTE FUNCTION form_template_version_guard();
REVOKE UPDATE, DELETE, TRUNCATE ON form_template_versions FROM cadence_app;

CREATE TABLE form_instances (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  appointment_id uuid,
  template_id uuid NOT NULL,
  version_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'submitted', 'signed')),
  answers text,  -- sealed JSON object; NULL until answered, and once the patient is erased
  signer_name text,  -- sealed
  signature_method text CHECK (signature_method IN ('typed', 'drawn')),
  signature_image text,  -- sealed base64 of the drawn signature's PNG
  signer_ip inet,
  signer_user_agent text CHECK (signer_user_agent IS NULL OR length(signer_user_agent) <= 500),
  signed_by uuid,  -- the staff user who recorded it; NULL when the patient signed by link
  signed_at timestamptz,
  submitted_at timestamptz,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, version_id, template_id)
    REFERENCES form_template_versions (organization_id, id, template_id),
  CHECK ((status = 'signed') = (signed_at IS NOT NULL)),
  CHECK ((status = 'signed') = (signature_method IS NOT NULL))
);
CREATE INDEX form_instances_patient ON form_instances (organization_id, patient_id, created_at DESC, id DESC);
SELECT enable_tenant_rls('form_instances');

CREATE FUNCTION form_instance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kept_aside text[] := ARRAY['answers', 'signer_name', 'signature_image', 'signer_ip',
                             'signer_user_agent'];
BEGIN
  IF OLD.status <> 'signed' THEN
    IF TG_OP = 'DELETE' THEN
      RETURN OLD;
    END IF;
    RETURN NEW;
  END IF;
  -- The schema owner's maintenance, never the application's: erasure (storage/privacy.py)
  -- blanks what identifies the patient, and `cadence keys rotate` re-seals the sealed columns
  -- under the active key (a sealed value is bound to this row and column, so none can be
  -- brought in from elsewhere). Everything else of the signed record stays as it was.
  IF TG_OP = 'UPDATE' AND current_user <> 'cadence_app'
     AND (NEW.signer_ip IS NULL OR NEW.signer_ip = OLD.signer_ip)
     AND (NEW.signer_user_agent IS NULL OR NEW.signer_user_agent = OLD.signer_user_agent)
     AND to_jsonb(NEW) - kept_aside = to_jsonb(OLD) - kept_aside THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'signed forms are immutable' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER form_instances_signed_immutable
  BEFORE UPDATE OR DELETE ON form_instances
  FOR EACH ROW EXECUTE FUNCTION form_instance_guard();
REVOKE DELETE, TRUNCATE ON form_instances FROM cadence_app;

CREATE TABLE appointment_intakes (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  appointment_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'completed')),
  form_id uuid NOT NULL,
  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  token_id uuid NOT NULL,  -- names this issue of the link (the outbox seals the link under it)
  expires_at timestamptz NOT NULL,
  sent_by uuid,
  sent_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (organization_id, appointment_id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, form_id) REFERENCES form_instances (organization_id, id),
  CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
SELECT enable_tenant_rls('appointment_intakes');
REVOKE DELETE, TRUNCATE ON appointment_intakes FROM cadence_app;

-- The organization of an intake token (by its SHA-256), for the public routes, which have no
-- tenant yet; knowing the hash means holding the token. Nothing else is answered here.
CREATE FUNCTION form_intake_organization(p_token_hash bytea) RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT organization_id FROM appointment_intakes WHERE token_hash = p_token_hash
$$;
REVOKE EXECUTE ON FUNCTION form_intake_organization(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION form_intake_organization(bytea) TO cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
