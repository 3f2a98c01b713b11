from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-06T01:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "locations, rooms and equipment as bookable resources"

# Locations, rooms and equipment (issue #17 item 1). A clinic (organization) has locations; a
# location has rooms of a `kind` ("gym", "treatment"); equipment belongs to a location. A service
# may require one room of a kind and pieces of equipment (`service_requirements`). A specialist's
# weekly hours gain an optional location: where they work on that day.
#
# Who decides, and what proves it. Every calendar of an organization is owned by ONE calendar
# shard (docs/architecture.md: the unit of ownership is the organization), and rooms and
# equipment belong to one organization too, so every booking competing for a room is decided by
# the same shard, in one place: no cross-shard coordination is needed, and none is added. The
# shard learns a resource's busy time from Postgres, in the same transaction as the booking
# that takes it: the reservation rows are written HERE, by a trigger on appointments, never by a
# second writer. The database stays the final proof:
# - `appointment_resources` holds one row per (appointment, room or piece of equipment) with
#   the appointment's [starts_at, ends_at) and `live`; its exclusion constraint
#   `appointment_resources_no_overlap` refuses two live rows of one resource whose times overlap
#   (participants of one group session share their room: `share_key` = the session's id).
# - The trigger `appointments_resources` keeps the rows consistent with the appointment: a
#   booking reserves every requirement of its service (the room chosen among the free rooms of
#   the kind at the specialist's location of that day, else at the required equipment's
#   location, else anywhere in the clinic); a cancellation or no-show sets `live = false` and
#   releases them; a reschedule (time, specialist or service moved) reserves anew. A forced
#   booking (`forced_reason`, issue #17 item 4) reserves nothing, as it escapes the specialist's
#   constraint too.
# - A refusal is SQLSTATE 23P01 on the appointment's own INSERT/UPDATE (no free room raises
#   23P01 naming the same constraint), so every booking path maps it to 409 slot_unavailable
#   exactly as a specialist's overlap, never a 500.
SQL = """
CREATE TABLE locations (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  address text CHECK (address IS NULL OR length(address) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX locations_org_created ON locations (organization_id, created_at, id);
SELECT enable_tenant_rls('locations');

CREATE TABLE rooms (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  location_id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_-]{0,39}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, location_id) REFERENCES locations (organization_id, id)
);
CREATE INDEX rooms_org_created ON rooms (organization_id, created_at, id);
CREATE INDEX rooms_kind ON rooms (organization_id, kind, location_id) WHERE deleted_at IS NULL;
SELECT enable_tenant_rls('rooms');

CREATE TABLE equipment (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  location_id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, location_id) REFERENCES locations (organization_id, id)
);
CREATE INDEX equipment_org_created ON equipment (organization_id, created_at, id);
SELECT enable_tenant_rls('equipment');

-- What a service needs besides its specialist: at most one room kind, any pieces of equipment.
CREATE TABLE service_requirements (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  service_id uuid NOT NULL,
  room_kind text CHECK (room_kind ~ '^[a-z][a-z0-9_-]{0,39}$'),
  equipment_id uuid,
  PRIMARY KEY (organization_id, id),
  CHECK ((room_kind IS NULL) <> (equipment_id IS NULL)),
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id)
    ON DELETE CASCADE,
  FOREIGN KEY (organization_id, equipment_id) REFERENCES equipment (organization_id, id)
);
CREATE UNIQUE INDEX service_requirements_room ON service_requirements
  (organization_id, service_id) WHERE room_kind IS NOT NULL;
CREATE UNIQUE INDEX service_requirements_equipment ON service_requirements
  (organization_id, service_id, equipment_id) WHERE equipment_id IS NOT NULL;
SELECT enable_tenant_rls('service_requirements');

ALTER TABLE specialist_hours ADD COLUMN location_id uuid;
ALTER TABLE specialist_hours ADD CONSTRAINT specialist_hours_location
  FOREIGN KEY (organization_id, location_id) REFERENCES locations (organization_id, id);

CREATE TABLE appointment_resources (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  appointment_id uuid NOT NULL,
  room_id uuid,
  equipment_id uuid,
  share_key uuid NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  live boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  CHECK ((room_id IS NULL) <> (equipment_id IS NULL)),
  CHECK (ends_at > starts_at),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, room_id) REFERENCES rooms (organization_id, id),
  FOREIGN KEY (organization_id, equipment_id) REFERENCES equipment (organization_id, id),
  CONSTRAINT appointment_resources_no_overlap EXCLUDE USING gist (
    organization_id WITH =,
    (coalesce(room_id, equipment_id)) WITH =,
    tstzrange(starts_at, ends_at, '[)') WITH &&,
    share_key WITH <>
  ) WHERE (live)
);
CREATE INDEX appointment_resources_appointment
  ON appointment_resources (organization_id, appointment_id);
CREATE INDEX appointment_resources_room
  ON appointment_resources (organization_id, room_id, starts_at) WHERE room_id IS NOT NULL;
SELECT enable_tenant_rls('appointment_resources');
REVOKE TRUNCATE ON appointment_resources FROM cadence_app;

CREATE FUNCTION appointment_resources_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  live_now boolean := NEW.status NOT IN ('cancelled', 'no_show') AND NEW.forced_reason IS NULL;
  share uuid := coalesce(NEW.group_session_id, NEW.id);
  span tstzrange := tstzrange(NEW.starts_at, NEW.ends_at, '[)');
  loc uuid;
  chosen uuid;
  req record;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF (NEW.starts_at, NEW.ends_at, NEW.specialist_id, NEW.service_id)
       IS NOT DISTINCT FROM (OLD.starts_at, OLD.ends_at, OLD.specialist_id, OLD.service_id) THEN
      UPDATE appointment_resources SET live = live_now
      WHERE organization_id = NEW.organization_id AND appointment_id = NEW.id
        AND live IS DISTINCT FROM live_now;
      RETURN NEW;
    END IF;
    -- Moved: what it held is given back and its new time reserved below.
    DELETE FROM appointment_resources
    WHERE organization_id = NEW.organization_id AND appointment_id = NEW.id;
  END IF;
  IF NOT live_now OR NOT EXISTS (
      SELECT 1 FROM service_requirements r
      WHERE r.organization_id = NEW.organization_id AND r.service_id = NEW.service_id) THEN
    RETURN NEW;  -- the common case costs one index probe
  END IF;
  -- Where the specialist works at the appointment's local start (their weekly hours).
  SELECT h.location_id INTO loc
  FROM specialist_hours h
  JOIN specialists s ON s.organization_id = h.organization_id AND s.id = h.specialist_id
  WHERE h.organization_id = NEW.organization_id AND h.specialist_id = NEW.specialist_id
    AND h.location_id IS NOT NULL
    AND h.weekday = extract(isodow FROM NEW.starts_at AT TIME ZONE s.timezone)
    AND h.start_min <= extract(hour FROM NEW.starts_at AT TIME ZONE s.timezone) * 60
                       + extract(minute FROM NEW.starts_at AT TIME ZONE s.timezone)
    AND h.end_min > extract(hour FROM NEW.starts_at AT TIME ZONE s.timezone) * 60
                    + extract(minute FROM NEW.starts_at AT TIME ZONE s.timezone)
  ORDER BY h.start_min LIMIT 1;
  IF loc IS NULL THEN
    SELECT e.location_id INTO loc
    FROM service_requirements r
    JOIN equipment e ON e.organization_id = r.organization_id AND e.id = r.equipment_id
    WHERE r.organization_id = NEW.organization_id AND r.service_id = NEW.service_id
    ORDER BY e.id LIMIT 1;
  END IF;
  FOR req IN
    SELECT r.room_kind, r.equipment_id FROM service_requirements r
    WHERE r.organization_id = NEW.organization_id AND r.service_id = NEW.service_id
    ORDER BY r.equipment_id NULLS LAST
  LOOP
    IF req.equipment_id IS NOT NULL THEN
      INSERT INTO appointment_resources
        (organization_id, appointment_id, equipment_id, share_key, starts_at, ends_at)
      VALUES (NEW.organization_id, NEW.id, req.equipment_id, share, NEW.starts_at, NEW.ends_at);
      CONTINUE;
    END IF;
    chosen := NULL;
    IF NEW.group_session_id IS NOT NULL THEN  -- a seat of a class: the class's room
      SELECT ar.room_id INTO chosen FROM appointment_resources ar
      JOIN rooms r ON r.organization_id = ar.organization_id AND r.id = ar.room_id
      WHERE ar.organization_id = NEW.organization_id AND ar.share_key = share AND ar.live
        AND r.kind = req.room_kind
      LIMIT 1;
    END IF;
    IF chosen IS NULL THEN
      -- A free room first; when every room is taken the first one is tried anyway, and the
      -- exclusion constraint refuses it (23P01) against the booking that holds it.
      SELECT r.id INTO chosen FROM rooms r
      WHERE r.organization_id = NEW.organization_id AND r.kind = req.room_kind
        AND r.deleted_at IS NULL AND (loc IS NULL OR r.location_id = loc)
      ORDER BY EXISTS (
          SELECT 1 FROM appointment_resources ar
          WHERE ar.organization_id = r.organization_id AND ar.room_id = r.id AND ar.live
            AND ar.share_key <> share AND tstzrange(ar.starts_at, ar.ends_at, '[)') && span),
        r.name, r.id
      LIMIT 1;
    END IF;
    IF chosen IS NULL THEN
      RAISE EXCEPTION 'no room of kind % at the location', req.room_kind
        USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'appointment_resources_no_overlap';
    END IF;
    INSERT INTO appointment_resources
      (organization_id, appointment_id, room_id, share_key, starts_at, ends_at)
    VALUES (NEW.organization_id, NEW.id, chosen, share, NEW.starts_at, NEW.ends_at);
  END LOOP;
  RETURN NEW;
END $$;
CREATE TRIGGER appointments_resources
  AFTER INSERT OR UPDATE OF status, starts_at, ends_at, specialist_id, service_id, forced_reason
  ON appointments FOR EACH ROW EXECUTE FUNCTION appointment_resources_sync();
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
