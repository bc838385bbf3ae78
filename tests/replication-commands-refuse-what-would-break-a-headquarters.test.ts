import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest, PUBLISHED_TABLES } from '../db/index.js';
import { silentLog } from './support/aggregator-fixtures.js';
import { createTestDatabase, query, type TestDatabase } from './support/database.js';
import { runBin } from './support/processes.js';

/**
 * Golden cases of `plant-climate replication`: what it refuses before it creates anything, with
 * the exit code and a message that says how to fix it. Every refusal here happens before a
 * subscription exists, so the "headquarters" may be a second database on the same server.
 */
describe('plant-climate replication refuses what would break a headquarters', () => {
  const databases: TestDatabase[] = [];
  const fresh = async () => {
    const database = await createTestDatabase();
    databases.push(database);
    return database;
  };
  afterAll(async () => {
    for (const database of databases) await database.drop();
  });
  const replication = (args: string[], database: TestDatabase) => runBin('plant-climate', ['replication', ...args], { ...database.env, LOG_LEVEL: 'warn' });

  it('bad usage exits 2 naming what is wrong', async () => {
    const database = await fresh();
    const cases: [string[], RegExp][] = [
      [['subscribe'], /--from URL is required/],
      [['subscribe', '--from', 'plant-a:5432'], /--from: expected a postgres:\/\/ URL/],
      [['unsubscribe'], /--plant CODE is required/],
      [['mirror'], /unknown action "mirror"; expected publish, subscribe, unsubscribe/],
    ];
    for (const [args, message] of cases) {
      const result = await replication(args, database);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
    }
    const help = await runBin('plant-climate', ['replication', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--with-raw/);
    expect(help.stdout).toMatch(/--from/);
  });

  it('publish refuses locations without their plant prefix and a table without a replica identity, naming them', async () => {
    const plant = await fresh();
    const db = plant.db as unknown as Kysely<unknown>;
    // A row kept NOT VALID through the upgrade (migration 0007).
    await migrateDown(db, plant.schema, silentLog);
    await sql`INSERT INTO location (loc_id, plant) VALUES ('A-01', 'PA'), ('PA-02', 'PA')`.execute(db);
    await migrateToLatest(db, plant.schema, silentLog);
    const prefix = await replication(['publish'], plant);
    expect(prefix.code).toBe(1);
    expect(prefix.stderr).toMatch(/location ids must start with their plant's code.*A-01 \(plant PA\); give each a prefixed id, or set its plant to NULL/);
    await sql`DELETE FROM location WHERE loc_id = 'A-01'`.execute(db);

    await sql`ALTER TABLE device DROP CONSTRAINT device_pkey`.execute(db);
    const keyless = await replication(['publish'], plant);
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toMatch(/device has no replica identity \(primary key\).*ADD PRIMARY KEY/);
    await sql`ALTER TABLE device ADD PRIMARY KEY (gateway_id, device_id)`.execute(db);

    const published = await replication(['publish', '--with-raw'], plant);
    expect(published.code, published.stderr).toBe(0);
    expect(published.stdout).toContain(`created: ${[...PUBLISHED_TABLES, 'temperature_raw'].join(', ')}`);
    const [root] = await query<{ pubviaroot: boolean }>(plant.url, "SELECT pubviaroot FROM pg_publication WHERE pubname = 'plant_climate'");
    expect(root?.pubviaroot).toBe(true);
    // Re-run without --with-raw: the list is updated, not added to.
    expect((await replication(['publish'], plant)).stdout).toContain(`updated: ${PUBLISHED_TABLES.join(', ')}\n`);
    const tables = await query<{ tablename: string }>(plant.url, "SELECT tablename FROM pg_publication_tables WHERE pubname = 'plant_climate' ORDER BY 1");
    expect(tables.map((row) => row.tablename)).toEqual([...PUBLISHED_TABLES].sort());
    const replicator = await replication(['publish', '--replicator', 'nobody_here'], plant);
    expect(replicator.code).toBe(1);
    expect(replicator.stderr).toMatch(/--replicator: no role "nobody_here"; create it first: CREATE ROLE nobody_here LOGIN REPLICATION/);
  });

  it('subscribe refuses a plant at another schema version, without a publication, with unprefixed ids, or a target holding raw readings', async () => {
    const plant = await fresh();
    const hq = await fresh();
    const subscribe = (args: string[] = []) => replication(['subscribe', '--from', plant.url, ...args], hq);

    const unpublished = await subscribe();
    expect(unpublished.code).toBe(1);
    expect(unpublished.stderr).toMatch(/no publication plant_climate of schema .*: run plant-climate replication publish there first/);

    await sql`INSERT INTO location (loc_id, plant) VALUES ('PA-01', 'PA'), ('X-09', NULL)`.execute(plant.db);
    expect((await replication(['publish'], plant)).code).toBe(0);
    const unprefixed = await subscribe();
    expect(unprefixed.code).toBe(1);
    expect(unprefixed.stderr).toMatch(/these locations of plant PA do not start with PA-: X-09/);
    await sql`UPDATE location SET loc_id = 'PA-09', plant = 'PA' WHERE loc_id = 'X-09'`.execute(plant.db);

    await migrateDown(plant.db as unknown as Kysely<unknown>, plant.schema, silentLog);
    const older = await subscribe();
    expect(older.code).toBe(1);
    expect(older.stderr).toMatch(/the plant's schema and headquarters' differ \(plant only: none; headquarters only: 0007-plant-prefixed-location-ids\).*plant-climate migrate/);
    await migrateToLatest(plant.db as unknown as Kysely<unknown>, plant.schema, silentLog);

    await sql`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, gateway_id) VALUES ('Q-01', '2024-01-01T00:00:00Z', 20, 'gw')`.execute(hq.db);
    const plantAsHq = await subscribe();
    expect(plantAsHq.code).toBe(1);
    expect(plantAsHq.stderr).toMatch(/this database holds raw readings: it is a plant's, not a headquarters/);
    expect(await query(hq.url, 'SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())')).toEqual([]);
  });
});
