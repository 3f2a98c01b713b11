from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T02:10:00:000000"
VERSION = "1.0"
DESCRIPTION = "identity: users, memberships, rotating refresh tokens, login and invite functions"

SQL = """
-- Platform-level identities: one person may belong to several organizations.
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320 AND position('@' IN email) > 1),
  -- NULL: cannot log in with a password (invited, or signs in through the identity provider).
  password_hash text,
  display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
  is_superadmin boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- A user's role in one organization (one hat per organization).
CREATE TABLE memberships (
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('admin', 'receptionist', 'specialist', 'owner', 'patient')),
  -- Links to the scheduling domain's rows; no foreign key, that domain owns those tables.
  patient_id uuid,
  specialist_id uuid,
  disabled_at timestamptz,
  -- Access tokens issued before this instant are refused (bumped on role change and enable).
  sessions_valid_after timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id),
  CHECK (patient_id IS NULL OR role = 'patient'),
  CHECK (specialist_id IS NULL OR role = 'specialist')
);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_org_created ON memberships (organization_id, created_at, user_id);
SELECT enable_tenant_rls('memberships');

-- The application sees a user only through a membership of the current organization, and never
-- writes users directly: creation goes through identity_ensure_user() below.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY member_of_current_org ON users FOR SELECT USING (
  EXISTS (SELECT 1 FROM memberships m
          WHERE m.user_id = users.id AND m.organization_id = app_org_id()));
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON users FROM cadence_app;

-- Rotating refresh tokens. Only a SHA-256 of each token is stored. A token belongs to a family
-- (one login); presenting an already-rotated token revokes the whole family.
-- organization_id NULL: a platform (superadmin) session, reachable only on the platform path.
CREATE TABLE refresh_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  family_id uuid NOT NULL,
  parent_id uuid,
  token_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_live ON refresh_tokens (organization_id, user_id)
  WHERE revoked_at IS NULL;
SELECT enable_tenant_rls('refresh_tokens');

-- Login happens before any organization is known. This returns the one account with that
-- e-mail (and its enabled memberships, earliest first) and nothing else; no listing is possible.
CREATE FUNCTION identity_login_candidates(p_email text)
  RETURNS TABLE (user_id uuid, password_hash text, is_superadmin boolean,
                 organization_id uuid, role text, patient_id uuid, specialist_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT u.id, u.password_hash, u.is_superadmin,
         m.organization_id, m.role, m.patient_id, m.specialist_id
  FROM users u
  LEFT JOIN memberships m ON m.user_id = u.id AND m.disabled_at IS NULL
  WHERE lower(u.email) = lower(p_email)
  ORDER BY m.created_at NULLS LAST, m.organization_id
$$;

-- An organization's admin adds a person by e-mail. The account is created when the e-mail is
-- new; an existing account (perhaps of another organization) is reused untouched, so an admin
-- can never set or learn another tenant's user's password. Callable only inside a tenant
-- transaction; the membership itself is then inserted by the caller, under row-level security.
CREATE FUNCTION identity_ensure_user(p_email text, p_password_hash text, p_display_name text)
  RETURNS uuid
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  found uuid;
BEGIN
  IF app_org_id() IS NULL THEN
    RAISE EXCEPTION 'identity_ensure_user needs an organization context'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO users (email, password_hash, display_name)
    VALUES (p_email, p_password_hash, coalesce(p_display_name, ''))
    ON CONFLICT ((lower(email))) DO NOTHING
    RETURNING id INTO found;
  IF found IS NULL THEN
    SELECT id INTO found FROM users WHERE lower(email) = lower(p_email);
  END IF;
  RETURN found;
END $$;

REVOKE EXECUTE ON FUNCTION identity_login_candidates(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION identity_ensure_user(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION identity_login_candidates(text) TO cadence_app;
GRANT EXECUTE ON FUNCTION identity_ensure_user(text, text, text) TO cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
