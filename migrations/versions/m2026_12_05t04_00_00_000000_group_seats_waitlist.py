from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-05T04:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "group capacity, seats and the waitlist"

# Group sessions. A service with capacity > 1 is a class: its participants are ordinary
# appointments that share one `group_sessions` row (calendar, specialist, start). Why a session
# row with a seat counter rather than seat rows or a shard-only count:
# - The no-overlap exclusion constraint gains one column, `coalesce(group_session_id, id) WITH
#   <>`: two rows conflict only when their keys differ. A one-to-one appointment's key is its own
#   id, so it conflicts with every overlapping appointment exactly as before; the participants
#   of one session share the session's id, so they may overlap each other and nothing else (a
#   class still takes its specialist's time from every other booking).
# - A participant references its session by (organization, session, specialist, start, end):
#   the database proves every participant sits exactly in its session's time.
# - `seats_taken` is kept by a trigger on appointments (a live participant takes a seat, a
#   cancellation or no-show gives it back) under the CHECK seats_taken <= capacity; the trigger's
#   UPDATE locks the session row, so concurrent bookings of the last seat serialize and the
#   database itself refuses a ninth seat of an eight-seat class (23514), whatever the shard
#   believed. Seat rows would need a row per seat to be created and compacted on every capacity
#   change; one counter states the same invariant.
# - Lowering a service's capacity updates its future sessions' capacity: below the seats already
#   booked, the same CHECK refuses it.
#
# The waitlist. An entry asks for a calendar (or any calendar of a service), optionally one
# specialist, within [window_from, window_to), urgent before normal, then first come. The calendar
# shard offers a freed slot to the first eligible entry as an exclusive hold, in the batch that
# freed it: `offered` with the hold's id and expiry. Accepting books the hold (`booked`, with the
# appointment); declining or letting it expire returns the entry to `waiting` and records the
# slot it passed on (`passed`), so it is offered to the next entry and never to this one again.
SQL = """
ALTER TABLE services ADD COLUMN capacity integer NOT NULL DEFAULT 1
  CHECK (capacity BETWEEN 1 AND 500);

CREATE TABLE group_sessions (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  calendar_id uuid NOT NULL,
  service_id uuid NOT NULL,
  specialist_id uuid NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  capacity integer NOT NULL CHECK (capacity BETWEEN 1 AND 500),
  seats_taken integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, calendar_id, specialist_id, starts_at),
  UNIQUE (organization_id, id, specialist_id, starts_at, ends_at),
  CONSTRAINT group_sessions_seats CHECK (seats_taken BETWEEN 0 AND capacity),
  CHECK (ends_at > starts_at),
  FOREIGN KEY (organization_id, calendar_id) REFERENCES calendars (organization_id, id),
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id),
  FOREIGN KEY (organization_id, specialist_id) REFERENCES specialists (organization_id, id)
);
CREATE INDEX group_sessions_service ON group_sessions (organization_id, service_id, starts_at);
SELECT enable_tenant_rls('group_sessions');
REVOKE DELETE, TRUNCATE ON group_sessions FROM cadence_app;

ALTER TABLE appointments ADD COLUMN group_session_id uuid;
ALTER TABLE appointments ADD CONSTRAINT appointments_group_session
  FOREIGN KEY (organization_id, group_session_id, specialist_id, starts_at, ends_at)
  REFERENCES group_sessions (organization_id, id, specialist_id, starts_at, ends_at);
CREATE INDEX appointments_group_session ON appointments (organization_id, group_session_id)
  WHERE group_session_id IS NOT NULL;

ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
  specialist_id WITH =,
  appointment_span(starts_at, ends_at, buffer_before_min, buffer_after_min) WITH &&,
  (coalesce(group_session_id, id)) WITH <>
) WHERE (status NOT IN ('cancelled', 'no_show') AND forced_reason IS NULL);

CREATE OR REPLACE FUNCTION group_session_seat() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was integer := 0;
  now_ integer := 0;
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.group_session_id IS NOT NULL
     AND OLD.status NOT IN ('cancelled', 'no_show') THEN
    was := 1;
  END IF;
  IF NEW.group_session_id IS NOT NULL AND NEW.status NOT IN ('cancelled', 'no_show') THEN
    now_ := 1;
  END IF;
  IF was <> now_ THEN
    UPDATE group_sessions SET seats_taken = seats_taken + now_ - was
    WHERE organization_id = NEW.organization_id
      AND id = coalesce(NEW.group_session_id, OLD.group_session_id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER appointments_group_seat
  AFTER INSERT OR UPDATE OF status, group_session_id ON appointments
  FOR EACH ROW EXECUTE FUNCTION group_session_seat();

CREATE TABLE waitlist_entries (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  calendar_id uuid,
  service_id uuid,
  specialist_id uuid,
  window_from timestamptz NOT NULL,
  window_to timestamptz NOT NULL,
  priority text NOT NULL CHECK (priority IN ('urgent', 'normal')),
  note text CHECK (note IS NULL OR length(note) <= 2000),
  status text NOT NULL DEFAULT 'waiting'
    CHECK (status IN ('waiting', 'offered', 'booked', 'cancelled')),
  offer_hold_id uuid,
  offer_calendar_id uuid,
  offer_specialist_id uuid,
  offer_starts_at timestamptz,
  offer_ends_at timestamptz,
  offer_expires_at timestamptz,
  offers integer NOT NULL DEFAULT 0,
  passed text[] NOT NULL DEFAULT '{}',
  appointment_id uuid,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  CHECK ((calendar_id IS NULL) <> (service_id IS NULL)),
  CHECK (window_to > window_from),
  CHECK ((status = 'offered') = (offer_hold_id IS NOT NULL)),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, calendar_id) REFERENCES calendars (organization_id, id),
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id),
  FOREIGN KEY (organization_id, specialist_id) REFERENCES specialists (organization_id, id),
  FOREIGN KEY (organization_id, offer_calendar_id) REFERENCES calendars (organization_id, id),
  FOREIGN KEY (organization_id, offer_specialist_id)
    REFERENCES specialists (organization_id, id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id)
);
-- The shard's question on every freed slot: the open entries of a calendar or its service,
-- urgent first, then first come.
CREATE INDEX waitlist_entries_open ON waitlist_entries
  (organization_id, (priority = 'urgent') DESC, created_at)
  WHERE status IN ('waiting', 'offered');
CREATE INDEX waitlist_entries_patient ON waitlist_entries (organization_id, patient_id);
SELECT enable_tenant_rls('waitlist_entries');
REVOKE DELETE, TRUNCATE ON waitlist_entries FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
