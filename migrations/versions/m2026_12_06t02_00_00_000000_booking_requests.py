from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-06T02:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "guest booking requests and privacy-policy consent of public bookings"

# A public booking may be a *request*: the appointment is written in status `requested`, which
# occupies its time like any live appointment (the no-overlap constraints leave out only
# cancelled and no-show rows), until staff confirm it (-> booked) or decline it, or it expires
# (-> cancelled: the time is free again). The request's own state, deadline and decider live in
# `booking_requests`, beside the appointment (the calendar shard writes both in one transaction).
#
# The guest's consent to the privacy policy goes to the consent ledger (the one source of a
# patient's consent) under the purpose `privacy_policy`, with the SHA-256 of the policy text the
# booking page showed. The address it came from is personal data: it is kept sealed
# (`ip_sealed`, storage/sealed.py), never in clear, so the clinic can prove it when it must
# and an erasure removes it.
#
# The notification trigger learns the request's messages: received (on insert), confirmed (the
# usual confirmation, with its reminders), declined or expired.
SQL = """
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check CHECK (status IN
  ('requested', 'booked', 'confirmed', 'checked_in', 'in_progress', 'completed', 'cancelled',
   'no_show'));

-- The clinic's public booking policy (absent: instant bookings, no consent asked).
CREATE TABLE public_booking_policies (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  mode text NOT NULL DEFAULT 'instant' CHECK (mode IN ('instant', 'request')),
  request_ttl_min integer NOT NULL DEFAULT 1440 CHECK (request_ttl_min BETWEEN 5 AND 20160),
  consent_required boolean NOT NULL DEFAULT false,
  privacy_policy_version text CHECK (length(privacy_policy_version) BETWEEN 1 AND 40),
  privacy_policy_sha256 text CHECK (privacy_policy_sha256 ~ '^[0-9a-f]{64}$'),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id),
  CHECK (NOT consent_required
         OR (privacy_policy_version IS NOT NULL AND privacy_policy_sha256 IS NOT NULL))
);
SELECT enable_tenant_rls('public_booking_policies');

-- A calendar's own mode, over the clinic's (a new-patient assessment may need a request while
-- follow-ups book at once).
CREATE TABLE calendar_booking_modes (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  calendar_id uuid NOT NULL,
  mode text NOT NULL CHECK (mode IN ('instant', 'request')),
  PRIMARY KEY (organization_id, calendar_id),
  FOREIGN KEY (organization_id, calendar_id) REFERENCES calendars (organization_id, id)
    ON DELETE CASCADE
);
SELECT enable_tenant_rls('calendar_booking_modes');

CREATE TABLE booking_requests (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  appointment_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'confirmed', 'declined', 'expired')),
  expires_at timestamptz NOT NULL,
  consent_id uuid,
  decided_by uuid,
  decided_role text CHECK (length(decided_role) <= 40),
  decided_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, appointment_id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, consent_id) REFERENCES patient_consents (organization_id, id),
  CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- The expiry sweep reads the pending requests by deadline, across organizations.
CREATE INDEX booking_requests_due ON booking_requests (expires_at) WHERE status = 'pending';
SELECT enable_tenant_rls('booking_requests');
REVOKE DELETE, TRUNCATE ON booking_requests FROM cadence_app;

ALTER TABLE patient_consents DROP CONSTRAINT patient_consents_purpose_check;
ALTER TABLE patient_consents ADD CONSTRAINT patient_consents_purpose_check CHECK (purpose IN
  ('telerehab_camera', 'analytics', 'treatment', 'marketing', 'privacy_policy'));
ALTER TABLE patient_consents
  ADD COLUMN policy_sha256 text CHECK (policy_sha256 ~ '^[0-9a-f]{64}$'),
  ADD COLUMN ip_sealed text;

ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_kind_check;
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_kind_check CHECK (kind IN
  ('appointment_confirmation', 'appointment_change', 'appointment_cancellation',
   'appointment_reminder', 'waitlist_offer', 'intake_request', 'automation_message',
   'booking_request_received', 'booking_request_declined'));

CREATE OR REPLACE FUNCTION notifications_on_appointment() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  msg text;
  dedupe text;
BEGIN
  IF coalesce(current_setting('cadence.notifications', true), '') = 'off' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status IN ('booked', 'confirmed') THEN
      PERFORM notifications_plan_reminders(NEW);
      msg := 'appointment_confirmation';
      dedupe := 'confirmation:' || NEW.id;
    ELSIF NEW.status = 'requested' THEN
      msg := 'booking_request_received';
      dedupe := 'request:' || NEW.id;
    END IF;
  ELSIF OLD.status = 'requested' AND NEW.status = 'cancelled' THEN
    msg := 'booking_request_declined';  -- declined or expired: the guest is told the same
    dedupe := 'request_declined:' || NEW.id;
  ELSIF OLD.status = 'requested' AND NEW.status IN ('booked', 'confirmed') THEN
    PERFORM notifications_plan_reminders(NEW);
    msg := 'appointment_confirmation';
    dedupe := 'confirmation:' || NEW.id;
  ELSIF NEW.status IN ('cancelled', 'no_show') THEN
    IF OLD.status IS DISTINCT FROM NEW.status THEN
      PERFORM notifications_cancel_reminders(NEW);
      IF NEW.status = 'cancelled' THEN
        msg := 'appointment_cancellation';
        dedupe := 'cancellation:' || NEW.id;
      END IF;
    END IF;
  ELSIF NEW.status IN ('booked', 'confirmed')
        AND (NEW.starts_at, NEW.ends_at) IS DISTINCT FROM (OLD.starts_at, OLD.ends_at) THEN
    PERFORM notifications_plan_reminders(NEW);
    msg := 'appointment_change';
    dedupe := 'change:' || NEW.id || ':' || txid_current();
  END IF;
  IF msg IS NOT NULL AND NEW.starts_at > notifications_now() THEN
    INSERT INTO notification_outbox (organization_id, kind, patient_id, appointment_id,
                                     dedupe_key, data, next_attempt_at)
    VALUES (NEW.organization_id, msg, NEW.patient_id, NEW.id, dedupe,
            jsonb_build_object('starts_at', NEW.starts_at, 'ends_at', NEW.ends_at,
                               'specialist_id', NEW.specialist_id,
                               'service_id', NEW.service_id, 'calendar_id', NEW.calendar_id,
                               'previous_starts_at',
                               CASE WHEN TG_OP = 'UPDATE' THEN OLD.starts_at END),
            notifications_now())
    ON CONFLICT (organization_id, dedupe_key) DO UPDATE SET data = EXCLUDED.data
      WHERE notification_outbox.status = 'pending';
  END IF;
  RETURN NULL;
END $$;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
