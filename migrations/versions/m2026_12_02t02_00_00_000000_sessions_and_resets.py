from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-02T02:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "identity: provider subjects linked to accounts, password changes and resets"

# The application role never writes `users` directly (identity migration): every change of a
# password goes through one of the SECURITY DEFINER functions below, each of which also ends the
# account's other sign-ins in the same transaction. The two new tables belong to no organization
# (an account and a provider subject are platform-level, like `users`) and are reachable by the
# application only through these functions.
SQL = """
-- An identity provider's subject, linked to one of our accounts. The provider proves who signs
-- in; the account's memberships say where and with which role (issue 15: its org and role
-- claims were trusted).
CREATE TABLE external_identities (
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 500),
  subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX external_identities_user ON external_identities (user_id);
ALTER TABLE external_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE external_identities FORCE ROW LEVEL SECURITY;
REVOKE ALL ON external_identities FROM cadence_app;

-- The enabled memberships of the account linked to (issuer, subject), earliest first.
CREATE FUNCTION identity_external_candidates(p_issuer text, p_subject text)
  RETURNS TABLE (user_id uuid, organization_id uuid, role text, patient_id uuid,
                 specialist_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.user_id, m.organization_id, m.role, m.patient_id, m.specialist_id
  FROM external_identities x
  JOIN memberships m ON m.user_id = x.user_id AND m.disabled_at IS NULL
  WHERE x.issuer = p_issuer AND x.subject = p_subject
  ORDER BY m.created_at, m.organization_id
$$;

-- Password resets by e-mail: only a SHA-256 of each token is kept; single use, short-lived.
CREATE TABLE password_resets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id) WHERE used_at IS NULL;
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
REVOKE ALL ON password_resets FROM cadence_app;

-- Starts a reset for the account with this e-mail: returns its address (NULL when there is no
-- such account). A newer reset retires the older ones still unused.
CREATE FUNCTION identity_reset_start(p_email text, p_token_hash bytea, p_ttl_s int)
  RETURNS text
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  found_id uuid;
  found_email text;
BEGIN
  SELECT u.id, u.email INTO found_id, found_email FROM users u WHERE lower(u.email) = lower(p_email);
  IF found_id IS NULL THEN
    RETURN NULL;
  END IF;
  UPDATE password_resets SET used_at = now() WHERE user_id = found_id AND used_at IS NULL;
  INSERT INTO password_resets (user_id, token_hash, expires_at)
    VALUES (found_id, p_token_hash, now() + make_interval(secs => p_ttl_s));
  RETURN found_email;
END $$;

-- Completes a reset: an unused, unexpired token sets the password once and ends every sign-in
-- of the account. No rows: the token is unknown, used or expired. Otherwise one row without a
-- family, then one per revoked refresh token.
CREATE FUNCTION identity_reset_finish(p_token_hash bytea, p_password_hash text)
  RETURNS TABLE (r_user_id uuid, r_organization_id uuid, r_family_id uuid)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  found uuid;
BEGIN
  UPDATE password_resets r SET used_at = now()
   WHERE r.token_hash = p_token_hash AND r.used_at IS NULL AND r.expires_at > now()
   RETURNING r.user_id INTO found;
  IF found IS NULL THEN
    RETURN;
  END IF;
  UPDATE users SET password_hash = p_password_hash, updated_at = now() WHERE id = found;
  RETURN QUERY SELECT found, NULL::uuid, NULL::uuid;
  RETURN QUERY
    UPDATE refresh_tokens t SET revoked_at = now()
     WHERE t.user_id = found AND t.revoked_at IS NULL
     RETURNING found, t.organization_id, t.family_id;
END $$;

-- Changes the password of an account whose current password the caller verified: set only if
-- the hash is still the one verified (no lost update), then every sign-in but `p_keep_family`
-- ends. No rows: the password changed meanwhile. Otherwise as identity_reset_finish.
CREATE FUNCTION identity_change_password(
  p_user_id uuid, p_old_hash text, p_new_hash text, p_keep_family uuid)
  RETURNS TABLE (r_user_id uuid, r_organization_id uuid, r_family_id uuid)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE users SET password_hash = p_new_hash, updated_at = now()
   WHERE id = p_user_id AND password_hash = p_old_hash;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT p_user_id, NULL::uuid, NULL::uuid;
  RETURN QUERY
    UPDATE refresh_tokens t SET revoked_at = now()
     WHERE t.user_id = p_user_id AND t.revoked_at IS NULL
       AND t.family_id IS DISTINCT FROM p_keep_family
     RETURNING p_user_id, t.organization_id, t.family_id;
END $$;

-- After a sign-in verified the password against a hash made with older parameters: store the
-- new hash, unless the password changed in between.
CREATE FUNCTION identity_rehash_password(p_user_id uuid, p_old_hash text, p_new_hash text)
  RETURNS boolean
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE users SET password_hash = p_new_hash WHERE id = p_user_id AND password_hash = p_old_hash;
  RETURN FOUND;
END $$;

REVOKE EXECUTE ON FUNCTION identity_external_candidates(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION identity_reset_start(text, bytea, int) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION identity_reset_finish(bytea, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION identity_change_password(uuid, text, text, uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION identity_rehash_password(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION identity_external_candidates(text, text) TO cadence_app;
GRANT EXECUTE ON FUNCTION identity_reset_start(text, bytea, int) TO cadence_app;
GRANT EXECUTE ON FUNCTION identity_reset_finish(bytea, text) TO cadence_app;
GRANT EXECUTE ON FUNCTION identity_change_password(uuid, text, text, uuid) TO cadence_app;
GRANT EXECUTE ON FUNCTION identity_rehash_password(uuid, text, text) TO cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
