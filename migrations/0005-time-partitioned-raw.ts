import { sql, type Kysely } from 'kysely';

/**
 * temperature_raw becomes a table partitioned by range of capture_dt: one partition per UTC day
 * (`temperature_raw_pYYYYMMDD`) and a DEFAULT partition (`temperature_raw_default`) for readings
 * outside every day partition (a transmitter whose clock says 2031 or 1970). Same columns, same
 * primary key (loc_id, capture_dt), same BRIN index, and the very same statement-level triggers
 * (dirty-hour marks, frozen-late counting) re-created on the partitioned parent: PostgreSQL 15 and
 * 18 allow statement-level triggers with transition tables on a partitioned table, and their
 * transition tables hold the rows routed to every partition.
 *
 * Every partition carries the same statement-level triggers too (`raw_partition_inherit`, which
 * reads the parent's from the catalogue: one list). PostgreSQL fires statement triggers only on
 * the table a statement names: a statement on the parent fires the parent's, a COPY naming a
 * partition fires that partition's, so each row is marked exactly once either way. The collector
 * COPYs fresh readings straight into their day partition (collectors/raw-table-writer.ts) because
 * PostgreSQL gives up COPY's multi-row inserts for a partitioned target with transition-table
 * triggers (CIM_SINGLE in copyfrom.c), and not for a plain partition. Partition maintenance that
 * moves rows between partitions disables the triggers of the partition it deletes from and adds
 * the new partition's triggers after the move, so it changes no hour. Partitions get the parent's
 * table and column privileges too, so a writer allowed on the parent may COPY into a new day.
 * (Row-level triggers need none of this: PostgreSQL clones those to every partition itself. A
 * later migration that adds a statement trigger to temperature_raw must add it to the
 * partitions as well: `SELECT raw_partition_inherit(p) FROM raw_partitions() ...`.)
 *
 * Retention gets cheap because `aggregator prune` detaches and drops whole day partitions before
 * the horizon (aggregator/raw-retention.ts), which neither touches rows nor fires a trigger.
 *
 * Conversion of an existing table with rows: the plain table is not copied. It is renamed
 * `temperature_raw_legacy` and attached as one partition FROM (its first UTC day) TO (tomorrow,
 * UTC); day partitions follow from tomorrow. Rows already dated tomorrow or later are moved to
 * the default partition first. Cost: two sequential scans of the old table (its first day, and
 * ATTACH's validation) under the ACCESS EXCLUSIVE lock of the rename, so writers and readers of
 * the raw table wait meanwhile (collectors keep their readings in their journals); measured in
 * bench/results/raw-partitions.md. The legacy partition is trimmed by DELETE, like every
 * partition that straddles the horizon, until the horizon passes its upper bound; then it is
 * dropped whole. Kysely runs migrations in one transaction: interrupted anywhere (the process
 * killed, the statement cancelled, a statement failing) it leaves the plain table exactly as it
 * was, and the next `plant-climate migrate` starts again from the beginning.
 *
 * Maintenance is done by SECURITY DEFINER functions owned by the migrating role, because only a
 * table's owner may attach or detach its partitions and the aggregator runs as a least-privilege
 * role (`plant-climate roles` grants it EXECUTE; PUBLIC may not). The drop function refuses any
 * partition that does not end at or before `aggregator_state.frozen_before`, whoever calls it.
 *
 * Reads nothing that migration 0004 may or may not have added: the raw table's columns, triggers
 * and grants are copied from the catalogue, whatever they are.
 */

/** Days of partitions this migration creates behind today (history a fresh plant seeds or replays) and ahead of it. */
const DAYS_BEHIND = 7;
const DAYS_AHEAD = 7;

async function triggerDefinitions(db: Kysely<unknown>, table: string): Promise<{ name: string; definition: string }[]> {
  const { rows } = await sql<{ name: string; definition: string }>`
    SELECT tgname AS name, pg_get_triggerdef(oid) AS definition FROM pg_trigger
    WHERE tgrelid = ${table}::regclass AND NOT tgisinternal ORDER BY tgname`.execute(db);
  return rows;
}

/** Moves every trigger of `from` to `to` (which has the same name `from` had when the definitions were read). */
async function recreateTriggers(db: Kysely<unknown>, triggers: readonly { name: string; definition: string }[], from: string): Promise<void> {
  for (const trigger of triggers) await sql`DROP TRIGGER ${sql.id(trigger.name)} ON ${sql.id(from)}`.execute(db);
  for (const trigger of triggers) await sql.raw(trigger.definition).execute(db);
}

/** Table and column privileges of `from` (other than its owner's) granted again on `to` (raw_copy_privileges, below). */
async function copyGrants(db: Kysely<unknown>, from: string, to: string): Promise<void> {
  await sql`SELECT raw_copy_privileges(${from}::regclass, ${to}::regclass)`.execute(db);
}

/** What every partition shares with the parent: created first, since the others use them. */
async function createInheritanceFunctions(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION raw_copy_privileges(source regclass, target regclass) RETURNS void
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    DECLARE
      g record;
    BEGIN
      FOR g IN
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee, a.privilege_type AS privilege, NULL AS columns
        FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid = source AND a.grantee <> c.relowner
        UNION ALL
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, a.privilege_type,
               string_agg(quote_ident(att.attname), ', ' ORDER BY att.attnum)
        FROM pg_attribute att CROSS JOIN LATERAL aclexplode(att.attacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE att.attrelid = source AND att.attacl IS NOT NULL
        GROUP BY 1, 2
      LOOP
        EXECUTE format('GRANT %s%s ON %s TO %s', g.privilege, coalesce(' (' || g.columns || ')', ''), target, g.grantee);
      END LOOP;
    END
    $fn$`.execute(db);

  // The parent's statement-level triggers (read from the catalogue, whatever migrations added)
  // created on one partition unless it has a trigger of that name already, and the parent's
  // privileges granted on it. Row-level triggers are left out: PostgreSQL clones those itself.
  await sql`
    CREATE FUNCTION raw_partition_inherit(partition regclass) RETURNS void
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    DECLARE
      parent regclass := 'temperature_raw'::regclass;
      needle text;
      t record;
    BEGIN
      -- pg_get_triggerdef names the table schema-qualified, whatever the search_path.
      SELECT format(' ON %I.%I ', n.nspname, c.relname) INTO needle
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = parent;
      FOR t IN
        SELECT pg_get_triggerdef(oid) AS definition FROM pg_trigger
        WHERE tgrelid = parent AND NOT tgisinternal AND tgtype & 1 = 0
          AND tgname NOT IN (SELECT tgname FROM pg_trigger WHERE tgrelid = partition)
        ORDER BY tgname
      LOOP
        IF position(needle IN t.definition) = 0 THEN
          RAISE EXCEPTION 'raw_partition_inherit: cannot find "%" in %', needle, t.definition;
        END IF;
        EXECUTE overlay(t.definition PLACING ' ON ' || partition::text || ' ' FROM position(needle IN t.definition) FOR length(needle));
      END LOOP;
      PERFORM raw_copy_privileges(parent, partition);
    END
    $fn$`.execute(db);
}

async function createMaintenanceFunctions(db: Kysely<unknown>): Promise<void> {
  // Every partition with its bounds (NULL for MINVALUE/MAXVALUE and for the default), read back
  // from PostgreSQL's own text of the bounds and cast in this session, so DateStyle cannot matter.
  await sql`
    CREATE FUNCTION raw_partitions() RETURNS TABLE (partition text, lower_bound timestamptz, upper_bound timestamptz, is_default boolean)
    LANGUAGE sql STABLE SET search_path FROM CURRENT AS $fn$
      SELECT c.relname::text,
             (regexp_match(b.expr, 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz,
             (regexp_match(b.expr, 'TO \\(''([^'']*)''\\)'))[1]::timestamptz,
             b.expr = 'DEFAULT'
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
      WHERE i.inhparent = 'temperature_raw'::regclass
      ORDER BY 2 NULLS FIRST, 1
    $fn$`.execute(db);

  // Creates the partition of one UTC day, unless a partition already covers part of it or the day
  // is wholly before the raw-retention horizon (its rows would only be pruned). Rows of that day
  // waiting in the default partition move into it in the same transaction: PostgreSQL refuses to
  // attach a range while the default partition holds rows of it. The table is built apart and
  // attached, which needs only SHARE UPDATE EXCLUSIVE on the parent (writers go on); the default
  // partition is locked ACCESS EXCLUSIVE and scanned while the range is checked, so it is kept
  // small (alert RawReadingsOutsidePartitions). The CHECK lets ATTACH skip scanning the new table.
  await sql`
    CREATE FUNCTION raw_partition_create(day date) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE
      lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
      hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
      name text := 'temperature_raw_p' || to_char(day, 'YYYYMMDD');
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtext('plant-climate:raw-partitions'));
      IF EXISTS (SELECT 1 FROM raw_partitions() p WHERE NOT p.is_default
                 AND coalesce(p.lower_bound, '-infinity') < hi AND coalesce(p.upper_bound, 'infinity') > lo)
         OR hi <= (SELECT frozen_before FROM aggregator_state) THEN
        RETURN NULL;
      END IF;
      EXECUTE format('CREATE TABLE %I (LIKE temperature_raw INCLUDING DEFAULTS)', name);
      -- The rows only change partition: no hour changes, so no trigger of either side fires (the
      -- new table gets its triggers after the move).
      IF EXISTS (SELECT 1 FROM temperature_raw_default WHERE capture_dt >= lo AND capture_dt < hi) THEN
        ALTER TABLE temperature_raw_default DISABLE TRIGGER USER;
        EXECUTE format('WITH moved AS (DELETE FROM temperature_raw_default WHERE capture_dt >= $1 AND capture_dt < $2 RETURNING *)
                        INSERT INTO %I SELECT * FROM moved', name) USING lo, hi;
        ALTER TABLE temperature_raw_default ENABLE TRIGGER USER;
      END IF;
      PERFORM raw_partition_inherit(name::regclass);
      EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (capture_dt >= %L AND capture_dt < %L)', name, name || '_bounds', lo, hi);
      EXECUTE format('ALTER TABLE temperature_raw ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
      EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_bounds');
      RETURN name;
    END
    $fn$`.execute(db);

  // Empties one partition wholly before the horizon and, when it can, detaches and drops it.
  // TRUNCATE locks only that partition, so the rows go at once beside open writers of the
  // current day; no row is deleted one by one and no trigger fires. DETACH (and DROP) then need
  // ACCESS EXCLUSIVE on the parent, which an open writer of any day holds off: tried under a 1 s
  // lock_timeout in a subtransaction, and left to the next prune when busy (an empty partition
  // costs nothing meanwhile). DETACH ... CONCURRENTLY would need only SHARE UPDATE EXCLUSIVE,
  // but PostgreSQL refuses it while a default partition exists, and it cannot run inside a
  // transaction or a function. `readings` is NULL when the partition itself stayed locked for 5 s
  // (a reader of that old day): nothing was done, and the caller leaves its rows alone. The
  // caller passes try_detach = false once the parent was busy, so a prune waits for it once.
  await sql`
    CREATE FUNCTION raw_partition_drop(name text, try_detach boolean, OUT readings bigint, OUT dropped boolean)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE
      horizon timestamptz := (SELECT frozen_before FROM aggregator_state);
      bounds record;
    BEGIN
      dropped := false;
      SELECT * INTO bounds FROM raw_partitions() p WHERE p.partition = name AND NOT p.is_default;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'raw_partition_drop: % is not a range partition of temperature_raw', name;
      END IF;
      IF horizon IS NULL OR bounds.upper_bound IS NULL OR bounds.upper_bound > horizon THEN
        RAISE EXCEPTION 'raw_partition_drop: % ends at %, after the raw-retention horizon %; only partitions wholly before it may be dropped',
          name, bounds.upper_bound, horizon;
      END IF;
      PERFORM set_config('lock_timeout', '5s', true);
      BEGIN
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', name);
      EXCEPTION WHEN lock_not_available THEN
        RETURN;
      END;
      EXECUTE format('SELECT count(*) FROM %I', name) INTO readings;
      EXECUTE format('TRUNCATE %I', name);
      IF NOT try_detach THEN
        RETURN;
      END IF;
      PERFORM set_config('lock_timeout', '1s', true);
      BEGIN
        EXECUTE format('ALTER TABLE temperature_raw DETACH PARTITION %I', name);
        EXECUTE format('DROP TABLE %I', name);
        dropped := true;
      EXCEPTION WHEN lock_not_available THEN
        dropped := false;
      END;
    END
    $fn$`.execute(db);

  // Readings waiting in the default partition (the aggregator exports it as a gauge).
  await sql`
    CREATE FUNCTION raw_readings_outside_partitions() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
      SELECT count(*) FROM temperature_raw_default
    $fn$`.execute(db);

  for (const signature of [
    'raw_copy_privileges(regclass, regclass)',
    'raw_partition_inherit(regclass)',
    'raw_partition_create(date)',
    'raw_partition_drop(text, boolean)',
    'raw_readings_outside_partitions()',
  ]) {
    await sql`REVOKE EXECUTE ON FUNCTION ${sql.raw(signature)} FROM PUBLIC`.execute(db);
  }
}

const DROP_FUNCTIONS = [
  'raw_readings_outside_partitions()',
  'raw_partition_drop(text, boolean)',
  'raw_partition_create(date)',
  'raw_partitions()',
  'raw_partition_inherit(regclass)',
  'raw_copy_privileges(regclass, regclass)',
];

export async function up(db: Kysely<unknown>): Promise<void> {
  const triggers = await triggerDefinitions(db, 'temperature_raw');
  await sql`ALTER TABLE temperature_raw RENAME TO temperature_raw_legacy`.execute(db);
  await sql`ALTER TABLE temperature_raw_legacy RENAME CONSTRAINT temperature_raw_pkey TO temperature_raw_legacy_pkey`.execute(db);
  await sql`ALTER INDEX temperature_raw_capture_dt_brin RENAME TO temperature_raw_legacy_capture_dt_brin`.execute(db);

  await sql`CREATE TABLE temperature_raw (LIKE temperature_raw_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)
            PARTITION BY RANGE (capture_dt)`.execute(db);
  await sql`ALTER TABLE temperature_raw ADD CONSTRAINT temperature_raw_pkey PRIMARY KEY (loc_id, capture_dt)`.execute(db);
  await sql`CREATE INDEX temperature_raw_capture_dt_brin ON temperature_raw USING brin (capture_dt)`.execute(db);
  await sql`CREATE TABLE temperature_raw_default PARTITION OF temperature_raw DEFAULT`.execute(db);
  await recreateTriggers(db, triggers, 'temperature_raw_legacy');
  await createInheritanceFunctions(db);
  await copyGrants(db, 'temperature_raw_legacy', 'temperature_raw');
  await createMaintenanceFunctions(db);

  // The old rows are attached where they are, not copied.
  const { rows } = await sql<{ tomorrow: string }>`
    SELECT to_char((now() AT TIME ZONE 'UTC')::date + 1, 'YYYY-MM-DD') AS tomorrow`.execute(db);
  const tomorrow = `${rows[0]?.tomorrow ?? ''}T00:00:00Z`;
  await sql`
    WITH moved AS (DELETE FROM temperature_raw_legacy WHERE capture_dt >= ${tomorrow}::timestamptz RETURNING *)
    INSERT INTO temperature_raw_default SELECT * FROM moved`.execute(db);
  const { rows: firsts } = await sql<{ first: string | null }>`
    SELECT to_char(min(capture_dt) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS first FROM temperature_raw_legacy`.execute(db);
  const first = firsts[0]?.first ?? null;
  if (first === null) {
    await sql`DROP TABLE temperature_raw_legacy`.execute(db);
  } else {
    await sql`ALTER TABLE temperature_raw ATTACH PARTITION temperature_raw_legacy
              FOR VALUES FROM (${sql.lit(`${first}T00:00:00Z`)}) TO (${sql.lit(tomorrow)})`.execute(db);
    await sql`SELECT raw_partition_inherit('temperature_raw_legacy')`.execute(db);
  }
  // After the move above, which only changed the rows' partition.
  await sql`SELECT raw_partition_inherit('temperature_raw_default')`.execute(db);
  await sql`
    SELECT raw_partition_create(day::date)
    FROM generate_series((now() AT TIME ZONE 'UTC')::date - ${DAYS_BEHIND}::int, (now() AT TIME ZONE 'UTC')::date + ${DAYS_AHEAD}::int, interval '1 day') AS day
    ORDER BY day`.execute(db);
}

/** Back to one plain table, every row copied (the partitions' rows are not attachable to a plain table). */
export async function down(db: Kysely<unknown>): Promise<void> {
  const triggers = await triggerDefinitions(db, 'temperature_raw');
  await sql`CREATE TABLE temperature_raw_plain (LIKE temperature_raw INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)`.execute(db);
  await sql`INSERT INTO temperature_raw_plain SELECT * FROM temperature_raw`.execute(db);
  await copyGrants(db, 'temperature_raw', 'temperature_raw_plain');
  for (const signature of DROP_FUNCTIONS) await sql`DROP FUNCTION ${sql.raw(signature)}`.execute(db);
  await sql`DROP TABLE temperature_raw`.execute(db);
  await sql`ALTER TABLE temperature_raw_plain RENAME TO temperature_raw`.execute(db);
  await sql`ALTER TABLE temperature_raw ADD CONSTRAINT temperature_raw_pkey PRIMARY KEY (loc_id, capture_dt)`.execute(db);
  await sql`CREATE INDEX temperature_raw_capture_dt_brin ON temperature_raw USING brin (capture_dt)`.execute(db);
  for (const trigger of triggers) await sql.raw(trigger.definition).execute(db);
}
