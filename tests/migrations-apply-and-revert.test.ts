import { describe, expect, it } from 'vitest';
import { Migrator, sql, type Kysely } from 'kysely';
import { migrateDown, migrateToLatest, schemaStatus, assertSchemaCurrent } from '../db/index.js';
import { migrations } from '../migrations/index.js';
import { useTestDatabase, createLogger } from './support/database.js';

const ALL = Object.keys(migrations).sort();

const log = createLogger('silent');

async function tables(db: Kysely<unknown>, schema: string): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`.execute(db);
  return rows.map((row) => row.table_name);
}

describe('migrations', () => {
  const database = useTestDatabase({ migrated: false });

  it('create the contract tables, and a second run changes nothing', async () => {
    const { db, schema } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    expect(await migrateToLatest(anyDb, schema, log)).toEqual(ALL);
    expect(await tables(anyDb, schema)).toEqual(
      expect.arrayContaining(['device', 'kysely_migration', 'location', 'raw_dirty_hour', 'temperature', 'temperature_raw']),
    );
    expect(await migrateToLatest(anyDb, schema, log)).toEqual([]);
    expect((await schemaStatus(anyDb, schema)).pending).toEqual([]);
  });

  it('keep writing the same reading twice to one stored row', async () => {
    const { db } = database();
    const row = { loc_id: 'A-01', capture_dt: '2024-01-01T00:00:00Z', temperature: 21.5, humidity: 40, pcv_temperature: null, gateway_id: 'gw-1' };
    await db.insertInto('temperature_raw').values(row).onConflict((oc) => oc.doNothing()).execute();
    await db.insertInto('temperature_raw').values(row).onConflict((oc) => oc.doNothing()).execute();
    const { count } = await db.selectFrom('temperature_raw').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    expect(count).toBe(1);
    await expect(db.insertInto('temperature_raw').values(row).execute()).rejects.toThrow(/duplicate key/);
  });

  it('mark the hours a raw insert, update or delete touched as dirty', async () => {
    const { db } = database();
    await db.deleteFrom('raw_dirty_hour').execute();
    await db
      .insertInto('temperature_raw')
      .values([
        { loc_id: 'B-01', capture_dt: '2024-03-31T00:59:59.999999Z', temperature: 1, humidity: 2, pcv_temperature: 3, gateway_id: 'gw' },
        { loc_id: 'B-01', capture_dt: '2024-03-31T01:00:00Z', temperature: 1, humidity: 2, pcv_temperature: 3, gateway_id: 'gw' },
        { loc_id: 'B-02', capture_dt: '2024-03-31T01:30:00Z', temperature: 1, humidity: 2, pcv_temperature: 3, gateway_id: 'gw' },
      ])
      .execute();
    const marks = async () =>
      (await db.selectFrom('raw_dirty_hour').select(['loc_id', 'bucket']).orderBy('loc_id').orderBy('bucket').execute()).map(
        (mark) => `${mark.loc_id}@${mark.bucket.toISOString()}`,
      );
    expect(await marks()).toEqual(['B-01@2024-03-31T00:00:00.000Z', 'B-01@2024-03-31T01:00:00.000Z', 'B-02@2024-03-31T01:00:00.000Z']);

    await db.deleteFrom('raw_dirty_hour').execute();
    await db.updateTable('temperature_raw').set({ capture_dt: '2024-03-31T05:10:00Z' }).where('loc_id', '=', 'B-02').execute();
    expect(await marks()).toEqual(['B-02@2024-03-31T01:00:00.000Z', 'B-02@2024-03-31T05:00:00.000Z']);

    await db.deleteFrom('raw_dirty_hour').execute();
    await db.deleteFrom('temperature_raw').where('loc_id', '=', 'B-01').execute();
    expect(await marks()).toEqual(['B-01@2024-03-31T00:00:00.000Z', 'B-01@2024-03-31T01:00:00.000Z']);
  });

  it('revert down to nothing and apply again', async () => {
    const { db, schema } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    expect(await migrateDown(anyDb, schema, log, { all: true })).toEqual([...ALL].reverse());
    expect(await tables(anyDb, schema)).toEqual(['kysely_migration', 'kysely_migration_lock']);
    await expect(assertSchemaCurrent(anyDb, schema)).rejects.toThrow(/run `npx plant-climate migrate` first/);
    expect(await migrateToLatest(anyDb, schema, log)).toEqual(ALL);
    await expect(assertSchemaCurrent(anyDb, schema)).resolves.toBeUndefined();
  });

  it('0003 fills MIN and per-metric counts of existing hours from raw; frozen hours keep NULL; it reverts', async () => {
    const { db, schema } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    await migrateDown(anyDb, schema, log, { all: true });
    const migrator = new Migrator({ db: anyDb, provider: { getMigrations: () => Promise.resolve(migrations) }, migrationTableSchema: schema });
    expect((await migrator.migrateTo('0002-aggregator-state')).error).toBeUndefined();
    // Hour 10 as the aggregator left it; hour 11 has a late reading not aggregated yet; hour 05
    // is frozen (its raw rows were pruned).
    await sql`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id) VALUES
      ('M-01', '2024-01-01T10:00:00Z', 20, 50, NULL, 'gw'), ('M-01', '2024-01-01T10:30:00Z', 22, NULL, NULL, 'gw'),
      ('M-01', '2024-01-01T11:00:00Z', 1, 1, 1, 'gw'), ('M-01', '2024-01-01T11:30:00Z', 2, 2, 2, 'gw')`.execute(anyDb);
    await sql`INSERT INTO temperature (loc_id, bucket, ymd, hh, temperature_max, temperature_avg, humidity_max, humidity_avg, sample_count) VALUES
      ('M-01', '2024-01-01T05:00:00Z', '20240101', '05', 9, 8, 7, 6, 360),
      ('M-01', '2024-01-01T10:00:00Z', '20240101', '10', 22, 21, 50, 50, 2),
      ('M-01', '2024-01-01T11:00:00Z', '20240101', '11', 1, 1, 1, 1, 1)`.execute(anyDb);
    await sql`UPDATE aggregator_state SET frozen_before = '2024-01-01T06:00:00Z'`.execute(anyDb);
    await sql`DELETE FROM raw_dirty_hour`.execute(anyDb);

    expect((await migrator.migrateTo('0003-hourly-counts-and-coverage')).error).toBeUndefined();
    const { rows } = await sql<Record<string, unknown>>`
      SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24') AS hh, temperature_min, temperature_count, humidity_min, humidity_count,
             pcv_temperature_min, pcv_temperature_count, expected_count FROM temperature ORDER BY bucket`.execute(anyDb);
    const nulls = { temperature_min: null, temperature_count: null, humidity_min: null, humidity_count: null, pcv_temperature_min: null, pcv_temperature_count: null, expected_count: null };
    expect(rows).toEqual([
      { hh: '05', ...nulls },
      { hh: '10', temperature_min: 20, temperature_count: 2, humidity_min: 50, humidity_count: 1, pcv_temperature_min: null, pcv_temperature_count: 0, expected_count: null },
      { hh: '11', ...nulls },
    ]);
    // The stale hour is left to the next run, which is told so by a dirty mark.
    const marks = await sql<{ hh: string }>`SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24') AS hh FROM raw_dirty_hour`.execute(anyDb);
    expect(marks.rows).toEqual([{ hh: '11' }]);
    await expect(sql`UPDATE temperature SET temperature_count = 3 WHERE hh = '10'`.execute(anyDb)).rejects.toThrow(/temperature_temperature_count_range/);

    expect(await migrateDown(anyDb, schema, log)).toEqual(['0003-hourly-counts-and-coverage']);
    const columns = await sql<{ column_name: string }>`
      SELECT column_name FROM information_schema.columns WHERE table_schema = ${schema} AND column_name IN ('temperature_count', 'poll_interval_ms', 'frozen_late_readings')`.execute(anyDb);
    expect(columns.rows).toEqual([]);
    expect(await migrateToLatest(anyDb, schema, log)).toEqual(ALL.filter((name) => name > '0002-aggregator-state'));
  });

  it('0004 makes the limits on record version 1, leaves frozen hours alone, marks the others for the next run; it reverts', async () => {
    const { db, schema } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    const migrator = new Migrator({ db: anyDb, provider: { getMigrations: () => Promise.resolve(migrations) }, migrationTableSchema: schema });
    const later = ALL.filter((name) => name > '0003-hourly-counts-and-coverage');
    const revertTo0003 = async () => (await migrator.migrateTo('0003-hourly-counts-and-coverage')).results?.map((result) => result.migrationName);
    expect(await revertTo0003()).toEqual([...later].reverse());
    await sql`DELETE FROM raw_dirty_hour`.execute(anyDb);
    await sql`INSERT INTO location (loc_id, temperature_max) VALUES ('M-01', 25), ('M-02', NULL)`.execute(anyDb);
    expect(await migrateToLatest(anyDb, schema, log)).toEqual(later);
    const versions = await sql`SELECT loc_id, valid_from::text, temperature_max, changed_by FROM location_threshold`.execute(anyDb);
    expect(versions.rows).toEqual([{ loc_id: 'M-01', valid_from: '-infinity', temperature_max: 25, changed_by: 'migration 0004' }]);
    // Hour 05 is frozen: no mark, its new columns stay NULL (unknown). Hours 10 and 11 are redone by the next run.
    const marks = await sql<{ hh: string }>`SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24') AS hh FROM raw_dirty_hour ORDER BY bucket`.execute(anyDb);
    expect(marks.rows).toEqual([{ hh: '10' }, { hh: '11' }]);
    expect(await revertTo0003()).toEqual([...later].reverse());
    expect(await tables(anyDb, schema)).not.toContain('audit_log');
    expect(await migrateToLatest(anyDb, schema, log)).toEqual(later);
  });

  it('0006 gives existing hourly rows revisions in the order they were written, and reverts', async () => {
    const { db, schema } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    const migrator = new Migrator({ db: anyDb, provider: { getMigrations: () => Promise.resolve(migrations) }, migrationTableSchema: schema });
    const later = ALL.filter((name) => name > '0005-time-partitioned-raw');
    const revertTo0005 = async () => (await migrator.migrateTo('0005-time-partitioned-raw')).results?.map((result) => result.migrationName);
    expect(await revertTo0005()).toEqual([...later].reverse());
    await sql`DELETE FROM temperature`.execute(anyDb);
    await sql`INSERT INTO temperature (loc_id, bucket, ymd, hh, sample_count, updated_at) VALUES
              ('N-01', '2024-01-01T01:00:00Z', '20240101', '01', 1, '2024-01-02'), ('N-01', '2024-01-01T02:00:00Z', '20240101', '02', 1, '2024-01-01')`.execute(anyDb);
    expect(await migrateToLatest(anyDb, schema, log)).toEqual(later);
    const rows = await sql`SELECT hh, revision, change_cause FROM temperature ORDER BY revision`.execute(anyDb);
    expect(rows.rows).toEqual([
      { hh: '02', revision: 1, change_cause: 'migration' },
      { hh: '01', revision: 2, change_cause: 'migration' },
    ]);
    // The next write continues the sequence.
    await sql`UPDATE temperature SET sample_count = 2 WHERE hh = '02'`.execute(anyDb);
    expect((await sql`SELECT revision FROM temperature WHERE hh = '02'`.execute(anyDb)).rows).toEqual([{ revision: 3 }]);
    expect(await revertTo0005()).toEqual([...later].reverse());
    expect(await tables(anyDb, schema)).not.toContain('temperature_history');
    const columns = await sql`SELECT column_name FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = 'temperature' AND column_name LIKE '%revision%'`.execute(anyDb);
    expect(columns.rows).toEqual([]);
    expect(await migrateToLatest(anyDb, schema, log)).toEqual(later);
  });

  it('run safely when two processes migrate at once', async () => {
    const { db, schema } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    await migrateDown(anyDb, schema, log, { all: true });
    await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(anyDb);
    const results = await Promise.all([migrateToLatest(anyDb, schema, log), migrateToLatest(anyDb, schema, log), migrateToLatest(anyDb, schema, log)]);
    expect(results.flat()).toEqual(ALL);
  });
});
