import { sql, type Kysely } from 'kysely';

/**
 * Per-metric MIN and count on the hourly table, the hour's expected number of readings, each
 * device's poll interval, and the aggregator's count of readings that arrived for frozen hours.
 *
 * `m_count` is the number of readings where `m` is not NULL: every rollup over hours weights an
 * hour's AVG by it (weighting by sample_count, which counts faulted readings too, made daily
 * averages wrong whenever a transmitter reported a fault).
 *
 * Existing hours are filled from raw in this migration, where raw still exists and agrees with
 * the stored row (same number of readings). Hours before the raw-retention horizon have lost
 * their raw rows: their MIN and counts stay NULL, which the API documents as "aggregated before
 * per-metric counts existed; raw data gone". An hour whose raw rows changed since it was
 * aggregated (a dirty hour the next run will redo anyway) is marked dirty instead of filled.
 *
 * Cost on a big table: adding nullable columns and NOT VALID checks is catalogue-only; the fill is
 * one GROUP BY over the raw rows after the horizon (the cost of a full backfill, see
 * bench/results/aggregator.md) and one new version of every hourly row, in the migration's
 * transaction. Readers are not blocked (MVCC); the collectors are not blocked (they write raw);
 * an aggregator run waits for the commit. The table holds a dead version of each row until
 * autovacuum passes. Measured in bench/results/aggregator.md ("migration 0003").
 *
 * This SQL is a snapshot of the hourly row's definition as of this migration, on purpose: a
 * migration must do the same thing forever, whatever db/hourly-row.ts becomes.
 */
const METRICS = ['temperature', 'humidity', 'pcv_temperature'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const metric of METRICS) {
    await sql`ALTER TABLE temperature
      ADD COLUMN ${sql.raw(`${metric}_min`)} double precision,
      ADD COLUMN ${sql.raw(`${metric}_count`)} integer,
      ADD CONSTRAINT ${sql.raw(`temperature_${metric}_count_range`)}
        CHECK (${sql.raw(`${metric}_count`)} BETWEEN 0 AND sample_count) NOT VALID`.execute(db);
  }
  await sql`ALTER TABLE temperature ADD COLUMN expected_count integer,
            ADD CONSTRAINT temperature_expected_count_positive CHECK (expected_count > 0) NOT VALID`.execute(db);
  await sql`ALTER TABLE device ADD COLUMN poll_interval_ms integer CHECK (poll_interval_ms > 0)`.execute(db);
  await sql`ALTER TABLE aggregator_state ADD COLUMN frozen_late_readings bigint NOT NULL DEFAULT 0`.execute(db);

  // Readings written into a frozen hour (before the raw-retention horizon) can never reach their
  // hourly row. They are counted here, in the writer's own statement, so each is counted exactly
  // once whoever later drops its dirty mark (a run or a prune); the aggregator exports the total
  // as plant_aggregator_frozen_late_readings_total. The state row is updated only when there are
  // such readings; without retention the hot path pays one single-row read per statement
  // (bench/aggregator-dirty-tracking.ts measures the trigger on its own).
  // SECURITY DEFINER: the writer is the collector's least-privilege role (`plant-climate roles`),
  // which may neither read nor update the aggregator's state; the function does only this one
  // update, with the schema pinned, on behalf of the migration's owner.
  await sql`
    CREATE FUNCTION count_frozen_late_readings() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE horizon timestamptz; late bigint;
    BEGIN
      SELECT frozen_before INTO horizon FROM aggregator_state;
      IF horizon IS NULL THEN
        RETURN NULL;  -- retention has never pruned: nothing is frozen
      END IF;
      SELECT count(*) INTO late FROM new_rows WHERE capture_dt < horizon;
      IF late > 0 THEN
        UPDATE aggregator_state SET frozen_late_readings = frozen_late_readings + late;
      END IF;
      RETURN NULL;
    END
    $fn$
  `.execute(db);
  await sql`CREATE TRIGGER temperature_raw_count_frozen_late_insert AFTER INSERT ON temperature_raw
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_frozen_late_readings()`.execute(db);
  await sql`CREATE TRIGGER temperature_raw_count_frozen_late_update AFTER UPDATE ON temperature_raw
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_frozen_late_readings()`.execute(db);

  // The checks are NOT VALID only to skip a validating scan: every existing row is either
  // rewritten below (and checked) or keeps NULL counts, which pass.
  const horizon = sql`coalesce((SELECT frozen_before FROM aggregator_state), '-infinity'::timestamptz)`;
  await sql`
    CREATE TEMP TABLE migration_0003_fresh ON COMMIT DROP AS
    SELECT loc_id, reading_hour(capture_dt) AS bucket, count(*) AS readings,
           min(temperature) AS temperature_min, count(temperature) AS temperature_count,
           min(humidity) AS humidity_min, count(humidity) AS humidity_count,
           min(pcv_temperature) AS pcv_temperature_min, count(pcv_temperature) AS pcv_temperature_count
    FROM temperature_raw WHERE capture_dt >= ${horizon}
    GROUP BY loc_id, reading_hour(capture_dt)`.execute(db);
  await sql`
    UPDATE temperature t SET
      temperature_min = f.temperature_min, temperature_count = f.temperature_count,
      humidity_min = f.humidity_min, humidity_count = f.humidity_count,
      pcv_temperature_min = f.pcv_temperature_min, pcv_temperature_count = f.pcv_temperature_count
    FROM migration_0003_fresh f
    WHERE t.loc_id = f.loc_id AND t.bucket = f.bucket AND t.sample_count = f.readings`.execute(db);
  await sql`
    INSERT INTO raw_dirty_hour (loc_id, bucket)
    SELECT f.loc_id, f.bucket FROM migration_0003_fresh f
    LEFT JOIN temperature t ON t.loc_id = f.loc_id AND t.bucket = f.bucket
    WHERE t.sample_count IS DISTINCT FROM f.readings
    ON CONFLICT (loc_id, bucket) DO NOTHING`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER temperature_raw_count_frozen_late_insert ON temperature_raw`.execute(db);
  await sql`DROP TRIGGER temperature_raw_count_frozen_late_update ON temperature_raw`.execute(db);
  await sql`DROP FUNCTION count_frozen_late_readings()`.execute(db);
  await sql`ALTER TABLE aggregator_state DROP COLUMN frozen_late_readings`.execute(db);
  await sql`ALTER TABLE device DROP COLUMN poll_interval_ms`.execute(db);
  await sql`ALTER TABLE temperature DROP COLUMN expected_count`.execute(db);
  for (const metric of METRICS) {
    await sql`ALTER TABLE temperature DROP COLUMN ${sql.raw(`${metric}_min`)}, DROP COLUMN ${sql.raw(`${metric}_count`)}`.execute(db);
  }
}
