import { describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
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

  it('run safely when two processes migrate at once', async () => {
    const { db, schema } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    await migrateDown(anyDb, schema, log, { all: true });
    await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(anyDb);
    const results = await Promise.all([migrateToLatest(anyDb, schema, log), migrateToLatest(anyDb, schema, log), migrateToLatest(anyDb, schema, log)]);
    expect(results.flat()).toEqual(ALL);
  });
});
