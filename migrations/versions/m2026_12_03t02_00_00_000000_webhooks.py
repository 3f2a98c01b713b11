from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-03T02:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "webhooks: endpoints, deliveries and their attempts"

# An endpoint is an organization's receiver of its events; a delivery is one event for one
# endpoint (its event id is the `webhook-id` of every attempt, so receivers dedupe retries);
# an attempt is one POST of it. Endpoints are soft-deleted so their delivery log stays readable.
# The sender claims due deliveries of every organization as the schema owner (FOR UPDATE SKIP
# LOCKED), so the due index is on next_attempt_at alone; a claim moves next_attempt_at to the
# end of its lease, so a sender that died mid-send leaves a row that becomes due again by itself.
SQL = """
CREATE TABLE webhook_endpoints (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  event_types text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 50),
  secret text NOT NULL,
  previous_secret text,
  previous_secret_until timestamptz,
  consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  failing_since timestamptz,
  disabled_at timestamptz,
  disabled_reason text CHECK (disabled_reason IN ('failures', 'admin')),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (organization_id, id),
  CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);
CREATE INDEX webhook_endpoints_live
  ON webhook_endpoints (organization_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
SELECT enable_tenant_rls('webhook_endpoints');

CREATE TABLE webhook_deliveries (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  endpoint_id uuid NOT NULL,
  event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
  event_type text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz,
  leased_until timestamptz,
  last_status_code integer,
  last_error text,
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, endpoint_id, event_id),
  FOREIGN KEY (organization_id, endpoint_id) REFERENCES webhook_endpoints (organization_id, id),
  CHECK (status <> 'pending' OR next_attempt_at IS NOT NULL)
);
CREATE INDEX webhook_deliveries_due
  ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log
  ON webhook_deliveries (organization_id, endpoint_id, created_at DESC, id DESC);
SELECT enable_tenant_rls('webhook_deliveries');

CREATE TABLE webhook_attempts (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  delivery_id uuid NOT NULL,
  attempt integer NOT NULL CHECK (attempt >= 1),
  status_code integer,
  latency_ms integer NOT NULL CHECK (latency_ms >= 0),
  error text,
  attempted_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, delivery_id, attempt),
  FOREIGN KEY (organization_id, delivery_id) REFERENCES webhook_deliveries (organization_id, id)
);
SELECT enable_tenant_rls('webhook_attempts');
-- The attempt log is a record: the application adds to it, never rewrites it.
REVOKE UPDATE, DELETE, TRUNCATE ON webhook_attempts FROM cadence_app;
REVOKE DELETE, TRUNCATE ON webhook_endpoints, webhook_deliveries FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
