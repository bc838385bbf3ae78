import { sql, type Kysely } from 'kysely';

/**
 * The four tables of the contract plus the dirty-hour marks that let the aggregator re-aggregate
 * exactly the (location, hour) pairs whose raw rows changed.
 *
 * temperature_raw is a plain table, not partitioned: its primary key (loc_id, capture_dt) makes
 * replays harmless and serves the per-location hour lookups of the rollup in O(log n) whatever
 * the table's size, and a BRIN index on capture_dt serves range scans across locations (backfill,
 * retention) for almost no write cost, because readings arrive in time order. Measured in
 * bench/raw-layout.ts: COPY into a partitioned table costs more per row than into the plain one
 * (see bench/RESULTS.md).
 *
 * Runs with search_path set to DB_SCHEMA (db/migrator.ts), so names are unqualified.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('location')
    .addColumn('loc_id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text')
    .addColumn('plant', 'text')
    .addColumn('area', 'text')
    .addColumn('temperature_min', 'double precision')
    .addColumn('temperature_max', 'double precision')
    .addColumn('humidity_min', 'double precision')
    .addColumn('humidity_max', 'double precision')
    .addColumn('active', 'boolean', (col) => col.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('temperature_raw')
    .addColumn('loc_id', 'text', (col) => col.notNull())
    .addColumn('capture_dt', 'timestamptz', (col) => col.notNull())
    .addColumn('temperature', 'double precision')
    .addColumn('humidity', 'double precision')
    .addColumn('pcv_temperature', 'double precision')
    .addColumn('gateway_id', 'text', (col) => col.notNull())
    .addColumn('received_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('temperature_raw_pkey', ['loc_id', 'capture_dt'])
    .execute();
  await sql`CREATE INDEX temperature_raw_capture_dt_brin ON temperature_raw USING brin (capture_dt)`.execute(db);

  await db.schema
    .createTable('temperature')
    .addColumn('loc_id', 'text', (col) => col.notNull())
    .addColumn('bucket', 'timestamptz', (col) => col.notNull())
    .addColumn('ymd', 'text', (col) => col.notNull().check(sql`ymd ~ '^[0-9]{8}$'`))
    .addColumn('hh', 'text', (col) => col.notNull().check(sql`hh ~ '^([01][0-9]|2[0-3])$'`))
    .addColumn('temperature_max', 'double precision')
    .addColumn('temperature_avg', 'double precision')
    .addColumn('humidity_max', 'double precision')
    .addColumn('humidity_avg', 'double precision')
    .addColumn('pcv_temperature_max', 'double precision')
    .addColumn('pcv_temperature_avg', 'double precision')
    .addColumn('sample_count', 'integer', (col) => col.notNull().check(sql`sample_count > 0`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('temperature_pkey', ['loc_id', 'bucket'])
    .execute();
  // Cross-location reads of a time range (/v1/hourly for many locations, alarms).
  await db.schema.createIndex('temperature_bucket_idx').on('temperature').column('bucket').execute();

  await db.schema
    .createTable('device')
    .addColumn('gateway_id', 'text', (col) => col.notNull())
    .addColumn('device_id', 'text', (col) => col.notNull())
    .addColumn('loc_id', 'text', (col) => col.notNull())
    .addColumn('host', 'text', (col) => col.notNull())
    .addColumn('port', 'integer', (col) => col.notNull())
    .addColumn('unit_id', 'integer', (col) => col.notNull())
    .addColumn('last_ok_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('last_error_at', 'timestamptz')
    .addColumn('consecutive_failures', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('device_pkey', ['gateway_id', 'device_id'])
    .execute();
  await db.schema.createIndex('device_loc_id_idx').on('device').column('loc_id').execute();

  await db.schema
    .createTable('raw_dirty_hour')
    .addColumn('loc_id', 'text', (col) => col.notNull())
    .addColumn('bucket', 'timestamptz', (col) => col.notNull())
    .addColumn('marked_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('raw_dirty_hour_pkey', ['loc_id', 'bucket'])
    .execute();

  // The hour of a reading, [h, h+1h) in absolute time: date_bin is immutable and ignores the
  // session's TimeZone, so a DST change neither merges nor splits an hour.
  await sql`
    CREATE FUNCTION reading_hour(capture_dt timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_bin('1 hour', capture_dt, TIMESTAMPTZ '2000-01-01 00:00:00+00')
  `.execute(db);

  // Dirty-hour marks, written by statement-level triggers with transition tables: one upsert per
  // statement for the distinct (location, hour) pairs it touched, in the writer's transaction.
  // The upsert's DO UPDATE takes a row lock on an existing mark until the writer commits, so an
  // aggregator claiming marks with FOR UPDATE SKIP LOCKED cannot consume a mark whose new rows it
  // cannot see yet; and a mark the aggregator is deleting makes the writer wait, then insert anew.
  // Pairs are taken in key order so that two writers never lock marks in opposite orders.
  await sql`
    CREATE FUNCTION mark_dirty_hours() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO raw_dirty_hour AS mark (loc_id, bucket)
        SELECT DISTINCT loc_id, reading_hour(capture_dt) FROM new_rows ORDER BY 1, 2
        ON CONFLICT (loc_id, bucket) DO UPDATE SET marked_at = excluded.marked_at;
      ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO raw_dirty_hour AS mark (loc_id, bucket)
        SELECT loc_id, bucket FROM (
          SELECT loc_id, reading_hour(capture_dt) AS bucket FROM new_rows
          UNION
          SELECT loc_id, reading_hour(capture_dt) FROM old_rows
        ) AS touched ORDER BY 1, 2
        ON CONFLICT (loc_id, bucket) DO UPDATE SET marked_at = excluded.marked_at;
      ELSE
        INSERT INTO raw_dirty_hour AS mark (loc_id, bucket)
        SELECT DISTINCT loc_id, reading_hour(capture_dt) FROM old_rows ORDER BY 1, 2
        ON CONFLICT (loc_id, bucket) DO UPDATE SET marked_at = excluded.marked_at;
      END IF;
      RETURN NULL;
    END
    $fn$
  `.execute(db);
  await sql`CREATE TRIGGER temperature_raw_mark_dirty_insert AFTER INSERT ON temperature_raw
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mark_dirty_hours()`.execute(db);
  await sql`CREATE TRIGGER temperature_raw_mark_dirty_update AFTER UPDATE ON temperature_raw
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mark_dirty_hours()`.execute(db);
  await sql`CREATE TRIGGER temperature_raw_mark_dirty_delete AFTER DELETE ON temperature_raw
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mark_dirty_hours()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('raw_dirty_hour').execute();
  await db.schema.dropTable('temperature_raw').execute();
  await sql`DROP FUNCTION mark_dirty_hours()`.execute(db);
  await sql`DROP FUNCTION reading_hour(timestamptz)`.execute(db);
  await db.schema.dropTable('temperature').execute();
  await db.schema.dropTable('device').execute();
  await db.schema.dropTable('location').execute();
}
