from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-03T03:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "notifications: outbox, templates, preferences and reminders"

SQL = """
-- Per-clinic settings. Absent row or NULL field: the organization's own language and time zone,
-- reminders 24 h and 2 h before, no quiet hours. Quiet hours are minutes of the local day
-- [start, end), wrapping past midnight when start > end.
CREATE TABLE notification_settings (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  default_language text CHECK (default_language ~ '^[a-z]{2}$'),
  reminder_leads_min integer[] NOT NULL DEFAULT '{1440,120}'
    CHECK (cardinality(reminder_leads_min) <= 5 AND array_position(reminder_leads_min, NULL) IS NULL
           AND 1 <= ALL (reminder_leads_min) AND 20160 >= ALL (reminder_leads_min)),
  quiet_start_min integer CHECK (quiet_start_min BETWEEN 0 AND 1439),
  quiet_end_min integer CHECK (quiet_end_min BETWEEN 0 AND 1439),
  timezone text CHECK (timezone IS NULL OR length(timezone) BETWEEN 1 AND 64),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id),
  CHECK ((quiet_start_min IS NULL) = (quiet_end_min IS NULL))
);
SELECT enable_tenant_rls('notification_settings');

-- A patient's choices; absent row: every channel on, reminders on, the clinic's language.
CREATE TABLE notification_preferences (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  language text CHECK (language ~ '^[a-z]{2}$'),
  email_enabled boolean NOT NULL DEFAULT true,
  sms_enabled boolean NOT NULL DEFAULT true,
  in_app_enabled boolean NOT NULL DEFAULT true,
  reminders_enabled boolean NOT NULL DEFAULT true,
  updates_enabled boolean NOT NULL DEFAULT true,
  quiet_start_min integer CHECK (quiet_start_min BETWEEN 0 AND 1439),
  quiet_end_min integer CHECK (quiet_end_min BETWEEN 0 AND 1439),
  timezone text CHECK (timezone IS NULL OR length(timezone) BETWEEN 1 AND 64),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, patient_id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  CHECK ((quiet_start_min IS NULL) = (quiet_end_min IS NULL))
);
SELECT enable_tenant_rls('notification_preferences');

-- A clinic's own wording of one message; without one, the built-in text of that language.
CREATE TABLE notification_templates (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
  channel text NOT NULL CHECK (channel IN ('email', 'sms', 'in_app')),
  language text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
  subject text NOT NULL DEFAULT '' CHECK (length(subject) <= 200),
  body text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, kind, channel, language)
);
SELECT enable_tenant_rls('notification_templates');

-- The outbox: one row per message to a patient, written in the transaction of its cause.
-- `data` holds ids and instants only (never names, addresses or text). A row is due while
-- pending or sending and `next_attempt_at` has passed; a claimed (sending) row's
-- `next_attempt_at` is the end of its lease, after which another dispatcher may take it over.
-- `delivered` lists the channels already done, so a retry sends only the rest.
CREATE TABLE notification_outbox (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('appointment_confirmation', 'appointment_change',
    'appointment_cancellation', 'appointment_reminder', 'waitlist_offer', 'intake_request',
    'automation_message')),
  patient_id uuid NOT NULL,
  appointment_id uuid,
  reminder_id uuid,
  dedupe_key text NOT NULL CHECK (length(dedupe_key) BETWEEN 1 AND 200),
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered text[] NOT NULL DEFAULT '{}',
  last_error text CHECK (last_error IS NULL OR length(last_error) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, dedupe_key),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at)
  WHERE status IN ('pending', 'sending');
CREATE INDEX notification_outbox_org_created ON notification_outbox
  (organization_id, created_at DESC, id);
SELECT enable_tenant_rls('notification_outbox');

-- Mail to an account (not a patient): password resets. Accounts are platform-level (users has no
-- organization), so this table is too: the application role may only INSERT (it asks for a mail
-- inside its own transaction and can never read one back); the dispatcher reads it as the
-- schema owner. `secret` is sealed (storage/crypto.py) and bound to the row.
CREATE TABLE account_mail_outbox (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('password_reset')),
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  language text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
  secret text,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text CHECK (last_error IS NULL OR length(last_error) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX account_mail_outbox_due ON account_mail_outbox (next_attempt_at)
  WHERE status IN ('pending', 'sending');
REVOKE ALL ON account_mail_outbox FROM cadence_app;
GRANT INSERT ON account_mail_outbox TO cadence_app;

-- Reminders: one row per appointment and lead time, due at (start - lead). The due index is the
-- durable schedule; a reminder leaves `planned` exactly once (sent, skipped or cancelled).
CREATE TABLE appointment_reminders (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  appointment_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  lead_min integer NOT NULL CHECK (lead_min BETWEEN 1 AND 20160),
  starts_at timestamptz NOT NULL,  -- the start it was planned for
  due_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'planned'
    CHECK (status IN ('planned', 'sent', 'skipped', 'cancelled')),
  sent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, appointment_id, lead_min),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
CREATE INDEX appointment_reminders_due ON appointment_reminders (due_at) WHERE status = 'planned';
SELECT enable_tenant_rls('appointment_reminders');

-- "Now" for planning: the transaction's start, unless the transaction says otherwise with
-- `set_config('cadence.clock', <instant>, true)` (a simulation or a test with a controllable
-- clock). It only decides which reminders are still ahead: nothing a tenant could abuse.
CREATE FUNCTION notifications_now() RETURNS timestamptz LANGUAGE sql STABLE AS
$$ SELECT coalesce(nullif(current_setting('cadence.clock', true), '')::timestamptz, now()) $$;

-- (Re)plan an appointment's reminders at its current start: one per configured lead whose due
-- time is still ahead. A lead already past when planned (booked 1 h before: the 24 h one) is
-- not planned; a planned one whose lead left the settings, or that a move made past, is
-- cancelled; a sent one is never touched (no reminder twice for one lead).
CREATE FUNCTION notifications_plan_reminders(appt appointments) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  leads integer[];
BEGIN
  SELECT s.reminder_leads_min INTO leads FROM notification_settings s
   WHERE s.organization_id = appt.organization_id;
  leads := coalesce(leads, ARRAY[1440, 120]);
  UPDATE appointment_reminders r SET status = 'cancelled', updated_at = now()
   WHERE r.organization_id = appt.organization_id AND r.appointment_id = appt.id
     AND r.status = 'planned'
     AND (r.lead_min <> ALL (leads)
          OR appt.starts_at - make_interval(mins => r.lead_min) <= notifications_now());
  INSERT INTO appointment_reminders (organization_id, appointment_id, patient_id, lead_min,
                                     starts_at, due_at)
  SELECT appt.organization_id, appt.id, appt.patient_id, l, appt.starts_at,
         appt.starts_at - make_interval(mins => l)
    FROM unnest(leads) AS l
   WHERE appt.starts_at - make_interval(mins => l) > notifications_now()
  ON CONFLICT (organization_id, appointment_id, lead_min) DO UPDATE
    SET starts_at = EXCLUDED.starts_at, due_at = EXCLUDED.due_at, status = 'planned',
        patient_id = EXCLUDED.patient_id, updated_at = now()
    WHERE appointment_reminders.status IN ('planned', 'cancelled');
END $$;

CREATE FUNCTION notifications_cancel_reminders(appt appointments) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE appointment_reminders r SET status = 'cancelled', updated_at = now()
   WHERE r.organization_id = appt.organization_id AND r.appointment_id = appt.id
     AND r.status = 'planned';
END $$;

-- The same transaction as the cause: every write of an appointment, whoever makes it (the
-- calendar shard, a seed, a repair), plans its reminders and queues its message here. Messages
-- only for appointments still ahead (a backfilled past visit announces nothing). The dedupe key
-- makes one message per appointment for a confirmation or cancellation, and one per
-- transaction for a change (two moves in one transaction: one message, with the last time).
-- `SET cadence.notifications = 'off'` in a transaction silences it (bulk imports).
CREATE FUNCTION notifications_on_appointment() RETURNS trigger
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
    END IF;
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

CREATE TRIGGER appointments_notify_insert AFTER INSERT ON appointments
  FOR EACH ROW EXECUTE FUNCTION notifications_on_appointment();
CREATE TRIGGER appointments_notify_update AFTER UPDATE OF status, starts_at, ends_at
  ON appointments FOR EACH ROW EXECUTE FUNCTION notifications_on_appointment();

-- Sent messages and reminders are history: the application never deletes them.
REVOKE DELETE, TRUNCATE ON notification_outbox, appointment_reminders FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
