import { sql, type Kysely } from 'kysely';

/**
 * Climate analytics (issue 13): versioned location thresholds, per-hour excursion counts against
 * the version in force at each reading, dew point, the Arrhenius sum behind the mean kinetic
 * temperature, and the append-only, hash-chained audit log.
 *
 * - `location_threshold`: every threshold version ever written, never updated or deleted (a
 *   trigger refuses). The version in force at an instant t is the one with the greatest
 *   `valid_from <= t`; of two with the same `valid_from`, the later recorded (`version`). A new
 *   version marks the hours it affects dirty (a trigger, so every writer does it: the API, the
 *   import command, psql), and the next scheduled run recomputes them. Hours before the
 *   raw-retention horizon are frozen and keep the counts they had (their raw rows are gone).
 *   The limits on record in `location` when this migration runs become version 1 of each
 *   location, valid from -infinity: the old alarms compared every hour with them.
 * - `temperature`: the new columns are nullable; hours after the horizon are marked dirty here
 *   (cheap: one INSERT ... SELECT over the hourly table), so the scheduled runs fill them in
 *   batches after the upgrade (verify reports them as pending meanwhile); frozen hours keep NULL
 *   (unknown: aggregated before these columns, raw rows gone).
 * - `audit_log`: one chain for the whole schema (not per location, so its key does not start with
 *   loc_id: in a distributed setup it is a reference table). Each entry's `hash` is SHA-256 over
 *   the previous entry's hash and the entry's own fields (`audit_entry_hash`); ids are gapless,
 *   assigned in the insert trigger under an advisory lock, so concurrent writers queue and never
 *   fork the chain, and a deleted entry leaves a gap and a broken link. UPDATE, DELETE and
 *   TRUNCATE are refused by triggers whoever asks (the owner too, unless it drops the trigger on
 *   purpose) and not granted to any component role (db/roles.ts).
 *
 * This SQL is a snapshot as of this migration, on purpose: a migration must do the same thing
 * forever, whatever db/ becomes.
 */
const EXCURSION_COUNTS = ['temperature_above_count', 'temperature_below_count', 'humidity_above_count', 'humidity_below_count'];
const EXCURSION_DELTAS = ['temperature_above_max_delta', 'temperature_below_max_delta', 'humidity_above_max_delta', 'humidity_below_max_delta'];

/** UPDATE, DELETE and TRUNCATE of `table` raise, for every role including the owner. */
async function refuseChanges(db: Kysely<unknown>, table: string): Promise<void> {
  await sql`CREATE TRIGGER ${sql.raw(`${table}_refuse_change`)} BEFORE UPDATE OR DELETE ON ${sql.raw(table)}
            FOR EACH ROW EXECUTE FUNCTION refuse_history_change()`.execute(db);
  await sql`CREATE TRIGGER ${sql.raw(`${table}_refuse_truncate`)} BEFORE TRUNCATE ON ${sql.raw(table)}
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`.execute(db);
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE location_threshold (
      loc_id text NOT NULL,
      version bigint GENERATED ALWAYS AS IDENTITY,
      valid_from timestamptz NOT NULL,
      temperature_min double precision,
      temperature_max double precision,
      humidity_min double precision,
      humidity_max double precision,
      changed_by text NOT NULL,
      reason text NOT NULL CHECK (length(btrim(reason)) > 0),
      recorded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (loc_id, version),
      CHECK (temperature_min IS NULL OR temperature_max IS NULL OR temperature_min <= temperature_max),
      CHECK (humidity_min IS NULL OR humidity_max IS NULL OR humidity_min <= humidity_max)
    )`.execute(db);
  await sql`CREATE INDEX location_threshold_in_force_idx ON location_threshold (loc_id, valid_from, version)`.execute(db);

  // Versions are history: never rewritten, never removed.
  await sql`
    CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'write a new entry instead (a threshold correction is a new version with a past valid_from)';
    END
    $fn$`.execute(db);
  await refuseChanges(db, 'location_threshold');

  // A new version changes the excursion counts of the hours from its valid_from to the next
  // version's (the hours in which it is, or was before this insert, in force): mark those that
  // have raw rows and are not frozen. SECURITY DEFINER: the API's role writes versions but may
  // not write the aggregator's marks; this function does only this insert, schema pinned.
  await sql`
    CREATE FUNCTION mark_threshold_hours_dirty() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE horizon timestamptz; next_from timestamptz;
    BEGIN
      SELECT frozen_before INTO horizon FROM aggregator_state;
      SELECT min(v.valid_from) INTO next_from FROM location_threshold v
      WHERE v.loc_id = NEW.loc_id AND v.valid_from > NEW.valid_from;
      INSERT INTO raw_dirty_hour AS mark (loc_id, bucket)
      SELECT DISTINCT r.loc_id, reading_hour(r.capture_dt) FROM temperature_raw r
      WHERE r.loc_id = NEW.loc_id
        AND r.capture_dt >= greatest(NEW.valid_from, coalesce(horizon, '-infinity'))
        AND r.capture_dt < coalesce(next_from, 'infinity')
      ORDER BY 1, 2
      ON CONFLICT (loc_id, bucket) DO UPDATE SET marked_at = excluded.marked_at;
      RETURN NULL;
    END
    $fn$`.execute(db);
  await sql`CREATE TRIGGER location_threshold_mark_dirty AFTER INSERT ON location_threshold
            FOR EACH ROW EXECUTE FUNCTION mark_threshold_hours_dirty()`.execute(db);

  await sql`
    INSERT INTO location_threshold (loc_id, valid_from, temperature_min, temperature_max, humidity_min, humidity_max, changed_by, reason)
    SELECT loc_id, '-infinity', temperature_min, temperature_max, humidity_min, humidity_max, 'migration 0004',
           'limits on record when threshold versions were introduced'
    FROM location
    WHERE num_nonnulls(temperature_min, temperature_max, humidity_min, humidity_max) > 0
    ORDER BY loc_id`.execute(db);

  await sql`ALTER TABLE temperature
    ADD COLUMN dew_point_avg double precision,
    ADD COLUMN dew_point_max double precision,
    ADD COLUMN dew_point_count integer,
    ${sql.raw(EXCURSION_COUNTS.map((column) => `ADD COLUMN ${column} integer`).join(', '))},
    ${sql.raw(EXCURSION_DELTAS.map((column) => `ADD COLUMN ${column} double precision`).join(', '))},
    ADD COLUMN temperature_arrhenius_sum double precision,
    ADD CONSTRAINT temperature_dew_point_count_range CHECK (dew_point_count BETWEEN 0 AND sample_count) NOT VALID`.execute(db);
  // Every hour after the horizon gets the new columns from the next runs (see above).
  await sql`
    INSERT INTO raw_dirty_hour (loc_id, bucket)
    SELECT loc_id, bucket FROM temperature
    WHERE bucket >= coalesce((SELECT frozen_before FROM aggregator_state), '-infinity'::timestamptz)
    ON CONFLICT (loc_id, bucket) DO NOTHING`.execute(db);

  await sql`
    CREATE TABLE audit_log (
      id bigint PRIMARY KEY CHECK (id > 0),
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      actor text NOT NULL,
      action text NOT NULL,
      subject text,
      reason text,
      before jsonb,
      after jsonb,
      prev_hash text,
      hash text NOT NULL UNIQUE
    )`.execute(db);
  // The canonical text of an entry: every field, NULLs spelled out (quote_nullable), the time in
  // UTC microseconds whatever the session's TimeZone, jsonb in its normalised text form.
  await sql`
    CREATE FUNCTION audit_entry_hash(e audit_log) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN encode(sha256(convert_to(concat_ws('|',
      e.id::text, quote_nullable(e.prev_hash),
      to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
      quote_nullable(e.actor), quote_nullable(e.action), quote_nullable(e.subject), quote_nullable(e.reason),
      quote_nullable(e.before::text), quote_nullable(e.after::text)), 'UTF8')), 'hex')`.execute(db);
  // Appends are serialised by a transaction-level advisory lock taken before reading the head:
  // the next writer waits for the commit and then (READ COMMITTED takes a new snapshot per
  // statement inside the function) reads the new head. Under REPEATABLE READ a stale head would
  // give an id that exists already: the primary key refuses it instead of forking the chain.
  await sql`
    CREATE FUNCTION audit_log_chain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE head audit_log;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtext('plant-climate:audit-log'));
      SELECT * INTO head FROM audit_log ORDER BY id DESC LIMIT 1;
      NEW.id := coalesce(head.id, 0) + 1;
      NEW.prev_hash := head.hash;
      NEW.at := clock_timestamp();
      NEW.hash := audit_entry_hash(NEW);
      RETURN NEW;
    END
    $fn$`.execute(db);
  await sql`CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain()`.execute(db);
  await refuseChanges(db, 'audit_log');
  await sql`REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, location_threshold FROM PUBLIC`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER audit_log_chain ON audit_log`.execute(db);
  await sql`DROP FUNCTION audit_log_chain()`.execute(db);
  await sql`DROP FUNCTION audit_entry_hash(audit_log)`.execute(db);
  await sql`DROP TABLE audit_log`.execute(db);
  await sql`ALTER TABLE temperature
    DROP COLUMN dew_point_avg, DROP COLUMN dew_point_max, DROP COLUMN dew_point_count,
    ${sql.raw([...EXCURSION_COUNTS, ...EXCURSION_DELTAS].map((column) => `DROP COLUMN ${column}`).join(', '))},
    DROP COLUMN temperature_arrhenius_sum`.execute(db);
  await sql`DROP TABLE location_threshold`.execute(db);
  await sql`DROP FUNCTION mark_threshold_hours_dirty()`.execute(db);
  await sql`DROP FUNCTION refuse_history_change()`.execute(db);
}
