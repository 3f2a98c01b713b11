"""Issue 15, holes 1 and 8, read from the catalog of a freshly migrated database.

- Every unique key of a tenant table (one with organization_id) includes organization_id: a key
  on a value alone lets one clinic's row collide with, replace or suppress another clinic's.
- Every link of a tenant row to a patient, specialist or calendar is a composite foreign key
  (organization_id, x_id) -> parent (organization_id, id): foreign-key checks bypass row-level
  security, so a bare-id key accepts another clinic's row.

A new table or key that breaks either rule fails here until it is fixed or allow-listed below
with its reason.
"""

from __future__ import annotations

import asyncpg

# Unique keys that may leave organization_id out, with the reason. Besides these, a key on the
# table's `id` alone (plus the partition key of a partitioned table) is allowed when `id` is a
# uuid the database draws at random (gen_random_uuid()): no tenant chooses it, so no two
# tenants' rows can share it.
UNIQUE_ALLOWED: dict[str, str] = {
    "refresh_tokens_token_hash_key": "SHA-256 of a server-drawn 256-bit secret; a refresh is "
    "looked up by it before any organization is known (platform sessions have none)",
    "appointment_intakes_token_hash_key": "SHA-256 of a server-drawn 256-bit intake token; the "
    "public intake page looks the intake up by it before any organization is known",
}

# Links that are deliberately not foreign keys, with the reason.
LINK_ALLOWED: dict[tuple[str, str], str] = {
    **{
        (table, "patient_id"): "telemetry is COPY-ingested without foreign keys; row-level "
        "security's WITH CHECK pins every row to the writing organization"
        for table in ("telemetry_events", "telemetry_rom_daily", "telemetry_sessions_daily")
    },
    ("audit_log", "patient_id"): "append-only record that outlives erasure; names, not links",
}
# Columns named like these link to the parent table's (organization_id, id).
PARENTS = {"patient_id": "patients", "specialist_id": "specialists", "calendar_id": "calendars"}

_TENANT_TABLES = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  -- A partition's unique indexes are its parent's, attached; the parent is checked.
  AND NOT c.relispartition
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
              AND a.attname = 'organization_id' AND NOT a.attisdropped)
ORDER BY c.relname
"""
_UNIQUE_KEYS = """
SELECT i.relname AS index, pg_get_indexdef(x.indexrelid) AS definition,
       coalesce(pg_get_expr(x.indexprs, x.indrelid), '') AS expressions,
       ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
             WHERE k.n <= x.indnkeyatts ORDER BY k.n)::text[] AS columns
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1 AND x.indisunique
"""
_PARTITION_KEY = """
SELECT ARRAY(SELECT a.attname FROM unnest(p.partattrs) k(attnum)
             JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.attnum)::text[]
FROM pg_partitioned_table p WHERE p.partrelid = $1
"""
_RANDOM_UUID_ID = """
SELECT 1 FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1 AND a.attname = 'id' AND a.atttypid = 'uuid'::regtype
  AND pg_get_expr(d.adbin, d.adrelid) = 'gen_random_uuid()'
"""
_COLUMNS = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
"""
# (organization_id, column) -> parent (organization_id, id), in that order.
_COMPOSITE_FK = """
SELECT 1 FROM pg_constraint k
WHERE k.conrelid = $1 AND k.contype = 'f' AND k.confrelid = $3::regclass
  AND ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
            ORDER BY u.n)::text[] = ARRAY['organization_id', $2]
  AND ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(attnum, n)
            JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
            ORDER BY u.n)::text[] = ARRAY['organization_id', 'id']
"""


async def _tenant_tables(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    tables: list[asyncpg.Record] = await conn.fetch(_TENANT_TABLES)
    # Sanity: the audit reads the real schema (a catalog query that matched nothing would pass).
    assert {"patients", "memberships", "telemetry_events"} <= {t["relname"] for t in tables}
    return tables


async def test_every_unique_key_of_tenant_data_includes_the_organization(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        offending: list[str] = []
        checked = 0
        for table in await _tenant_tables(conn):
            partition_key = set(await conn.fetchval(_PARTITION_KEY, table["oid"]) or [])
            random_id = await conn.fetchval(_RANDOM_UUID_ID, table["oid"]) is not None
            for key in await conn.fetch(_UNIQUE_KEYS, table["oid"]):
                checked += 1
                columns = list(key["columns"])
                if "organization_id" in columns or "organization_id" in key["expressions"]:
                    continue
                if random_id and [c for c in columns if c not in partition_key] == ["id"]:
                    continue
                if key["index"] in UNIQUE_ALLOWED:
                    continue
                offending.append(f"{table['relname']}: {key['definition']}")
        assert checked > 20
        assert not offending, "unique keys of tenant data without organization_id:\n" + "\n".join(
            offending
        )
    finally:
        await conn.close()


async def test_every_link_to_a_patient_specialist_or_calendar_is_a_composite_foreign_key(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        missing: list[str] = []
        links = 0
        for table in await _tenant_tables(conn):
            for (column,) in await conn.fetch(_COLUMNS, table["oid"]):
                parent = next((p for s, p in PARENTS.items() if column.endswith(s)), None)
                if parent is None or (table["relname"], column) in LINK_ALLOWED:
                    continue
                links += 1
                if not await conn.fetchval(_COMPOSITE_FK, table["oid"], column, parent):
                    missing.append(f"{table['relname']}.{column} -> {parent}")
        assert links > 15
        assert not missing, "links without a composite (organization_id, id) key:\n" + "\n".join(
            missing
        )
    finally:
        await conn.close()
