import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backfill, ScheduledAggregator } from '../aggregator/index.js';
import { PUBLISHED_TABLES, subscriptionName } from '../db/index.js';
import { generateReadings, insertReadings, manualClock, silentLog, until } from './support/aggregator-fixtures.js';
import { createTestDatabase, query, type TestDatabase } from './support/database.js';
import { DEBIAN_PG15_BIN, HeadquartersServer, debianPg15Installed, dropHeadquartersAndPlants, startApiBin, tableChecksum } from './support/headquarters.js';
import { killAllBins, runBin, type BinProcess } from './support/processes.js';

/** Each published table's key, for the checksums. */
const KEYS: Readonly<Record<string, string>> = {
  location: 'loc_id',
  location_threshold: 'loc_id, version',
  temperature: 'loc_id, bucket',
  temperature_tombstone: 'loc_id, bucket',
  temperature_history: 'loc_id, bucket, revision_from',
  device: 'gateway_id, device_id',
};

const clock = manualClock('2024-03-04T00:00:00Z');
const aggregate = (plant: TestDatabase) => new ScheduledAggregator({ db: plant.db, timezone: 'UTC', log: silentLog, clock }).runOnce('test');

/** A plant database on the harness's server: its locations, a threshold, devices, two days of readings, backfilled and aggregated. */
async function newPlant(plants: TestDatabase[], code: string, locIds: readonly string[]): Promise<TestDatabase> {
  const plant = await createTestDatabase();
  plants.push(plant);
  await plant.db.insertInto('location').values(locIds.map((loc_id) => ({ loc_id, name: `Hall ${loc_id}`, plant: code }))).execute();
  await sql`INSERT INTO location_threshold (loc_id, valid_from, temperature_max, changed_by, reason)
            SELECT loc_id, '2024-03-01', 24, 'test', 'initial limits' FROM location`.execute(plant.db);
  await plant.db
    .insertInto('device')
    .values(locIds.map((loc_id, i) => ({ gateway_id: `${code}-gw`, device_id: `dev-${i + 1}`, loc_id, host: '10.0.0.1', port: 502, unit_id: i + 1 })))
    .execute();
  await generateReadings(plant.db, { locIds, from: '2024-03-01T00:00:00Z', to: '2024-03-03T00:00:00Z', stepSeconds: 600 });
  await backfill(plant.db, { timezone: 'UTC', start: '2024-03-01', end: '2024-03-02' });
  await aggregate(plant);
  return plant;
}

/**
 * Waits until every subscribed table has finished its first copy (an empty table's checksum
 * matches before its copy is done) and every published table holds the same rows at
 * headquarters as at the plants together.
 */
async function converged(hq: HeadquartersServer, plants: readonly TestDatabase[]): Promise<void> {
  const schema = plants[0]?.schema ?? '';
  await until(
    async () => (await query(hq.url, "SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'")).length === 0,
    30_000,
    "headquarters' first copy of every subscribed table",
  );
  for (const table of PUBLISHED_TABLES) {
    const key = KEYS[table] ?? 'loc_id';
    // Headquarters holds each plant's rows, told apart by the plant prefix of loc_id.
    await until(
      async () => {
        for (const plant of plants) {
          const code = (await query<{ plant: string }>(plant.url, `SELECT min(plant) AS plant FROM ${schema}.location`))[0]?.plant ?? '';
          const atPlant = await tableChecksum(plant.url, schema, table, key);
          const atHq = await tableChecksum(hq.url, schema, table, key, `${code}-`);
          if (atHq.rows !== atPlant.rows || atHq.md5 !== atPlant.md5) return false;
        }
        return true;
      },
      30_000,
      `headquarters' ${table} to equal the plants'`,
    );
  }
}

/**
 * Plants → headquarters over PostgreSQL's logical replication, through the real bin: a plant
 * backfills, gets a late reading, loses an hour and changes a threshold; headquarters converges
 * to the very same rows (checksums of every column) and its API serves them, and answers the
 * documented problem for what needs the plant's raw rows. A second plant joins the same
 * headquarters. Then headquarters goes down while both plants write, comes back, and catches up
 * from the slots the plants kept.
 */
describe('a headquarters database mirrors every plant, through a network cut', () => {
  let hq: HeadquartersServer;
  const plants: TestDatabase[] = [];
  const apis: BinProcess[] = [];
  let plantA: TestDatabase;
  let plantB: TestDatabase;
  const hqEnv = () => ({ DATABASE_URL: hq.url, DB_SCHEMA: plantA.schema, LOG_LEVEL: 'warn' });
  const replicator = `replicator_${process.pid}_${Date.now() % 100_000}`;

  beforeAll(async () => {
    const [level] = await query<{ wal_level: string }>(inject('adminUrl'), 'SHOW wal_level');
    if (level?.wal_level !== 'logical') throw new Error(`the test server runs with wal_level=${level?.wal_level}: start it with -c wal_level=logical (.ci/run does)`);
    hq = await HeadquartersServer.start();
    plantA = await newPlant(plants, 'PA', ['PA-01', 'PA-02']);
  });

  afterAll(async () => {
    await killAllBins();
    await dropHeadquartersAndPlants(hq, plants);
    // Its grants went with the plant's database.
    await query(inject('adminUrl'), `DROP ROLE IF EXISTS ${replicator}`);
  });

  it('converges to the plant\'s rows after backfill, a late reading, a deleted hour and a threshold change, and its API serves them', async () => {
    const published = await runBin('plant-climate', ['replication', 'publish'], { ...plantA.env, LOG_LEVEL: 'warn' });
    expect(published.code, published.stderr).toBe(0);
    expect(published.stdout).toContain(`publication plant_climate created: ${PUBLISHED_TABLES.join(', ')}`);
    // Re-running changes nothing and fails nothing.
    expect((await runBin('plant-climate', ['replication', 'publish'], plantA.env)).stdout).toMatch(/publication plant_climate updated/);

    const subscribed = await runBin('plant-climate', ['replication', 'subscribe', '--from', plantA.url], hqEnv());
    expect(subscribed.code, subscribed.stderr).toBe(0);
    expect(subscribed.stdout).toMatch(/subscription plant_climate_pa \(plant PA\) created/);
    await converged(hq, plants);
    const atHq = await runBin('plant-climate', ['replication', 'status'], hqEnv());
    expect(atHq.stdout).toMatch(new RegExp(`subscription plant_climate_pa \\(plant PA\\): enabled, ${PUBLISHED_TABLES.length}/${PUBLISHED_TABLES.length} tables ready, last message \\S+Z, 0 apply error\\(s\\)`));
    expect((await runBin('plant-climate', ['replication', 'status'], plantA.env)).stdout).toMatch(/slot plant_climate_pa: active, retaining \d+ bytes of WAL/);

    // Changes after the first copy come through the stream.
    await insertReadings(plantA.db, [{ loc_id: 'PA-01', at: '2024-03-01T05:30:01Z', values: [35.5, 50, 10] }]);
    await sql`DELETE FROM temperature_raw WHERE loc_id = 'PA-02' AND capture_dt >= '2024-03-01T07:00:00Z' AND capture_dt < '2024-03-01T08:00:00Z'`.execute(plantA.db);
    await sql`INSERT INTO location_threshold (loc_id, valid_from, temperature_max, changed_by, reason) VALUES ('PA-02', '2024-03-02T00:00:00Z', 21, 'test', 'tighter')`.execute(plantA.db);
    expect(await aggregate(plantA)).toMatchObject({ dirtyHoursLeft: 0 });
    const hours = await query<{ loc_id: string; bucket: Date }>(plantA.url, `SELECT loc_id, bucket FROM ${plantA.schema}.temperature WHERE loc_id = 'PA-02' AND bucket = '2024-03-01T07:00:00Z'`);
    expect(hours).toEqual([]);
    await converged(hq, plants);
    const deleted = await query(hq.url, `SELECT 1 FROM ${plantA.schema}.temperature WHERE loc_id = 'PA-02' AND bucket = '2024-03-01T07:00:00Z'`);
    expect(deleted).toEqual([]);
    // A re-run of subscribe is an update, not an error.
    expect((await runBin('plant-climate', ['replication', 'subscribe', '--from', plantA.url], hqEnv())).stdout).toMatch(/plant_climate_pa \(plant PA\) updated/);

    const plantApi = await startApiBin(plantA.url, plantA.schema);
    const hqApi = await startApiBin(hq.url, plantA.schema);
    apis.push(plantApi.process, hqApi.process);
    // The late reading's hour has a superseded version: its history (and the deleted hour's) is replicated too.
    for (const route of [
      '/v1/locations/PA-01/hourly?from=2024-03-01&to=2024-03-03',
      '/v1/locations/PA-02/daily?from=2024-03-01&to=2024-03-03',
      '/v1/locations',
      '/v1/locations/PA-01/hourly/2024-03-01T05:00:00Z/history',
      '/v1/locations/PA-02/hourly/2024-03-01T07:00:00Z/history',
    ]) {
      const [atPlant, atHq] = await Promise.all([fetch(`${plantApi.url}${route}`), fetch(`${hqApi.url}${route}`)]);
      expect(atHq.status, route).toBe(200);
      expect(await atHq.json(), route).toEqual(await atPlant.json());
    }
    const latestAtPlant = await fetch(`${plantApi.url}/v1/locations/PA-01/latest`);
    expect(latestAtPlant.status).toBe(200);
    const latestAtHq = await fetch(`${hqApi.url}/v1/locations/PA-01/latest`);
    expect(latestAtHq.status).toBe(404);
    expect(latestAtHq.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await latestAtHq.json()).toMatchObject({
      type: 'https://plant-climate.invalid/problems/not-at-headquarters',
      detail: expect.stringMatching(/raw readings.*ask the API of the plant \(PA\)/) as string,
    });
    expect((await fetch(`${hqApi.url}/v1/audit`)).status).toBe(404);
    // Each plant's revisions are a sequence of its own: the feed is followed at the plant.
    expect((await fetch(`${hqApi.url}/v1/changes`)).status).toBe(404);
    expect((await fetch(`${plantApi.url}/v1/changes`)).status).toBe(200);
    expect((await fetch(`${plantApi.url}/v1/audit`)).status).toBe(200);
    // The headquarters API's metrics: the plant is heard from (keepalives at least every 30 s), no apply errors.
    const metrics = await (await fetch(`${hqApi.url}/metrics`)).text();
    const age = /^plant_api_headquarters_last_message_age_seconds\{subscription="plant_climate_pa",plant="PA"\} (\S+)$/m.exec(metrics)?.[1];
    expect(Number(age)).toBeLessThan(60);
    expect(metrics).toMatch(/^plant_api_headquarters_apply_errors\{subscription="plant_climate_pa",plant="PA"\} 0$/m);
  });

  it('takes a second plant into the same headquarters, connecting as a replication role, and serves both plants\' locations and hours', async () => {
    plantB = await newPlant(plants, 'PB', ['PB-01']);
    // Headquarters connects to this plant as a role with REPLICATION and no other rights but
    // what `publish --replicator` grants it.
    await query(inject('adminUrl'), `CREATE ROLE ${replicator} LOGIN REPLICATION PASSWORD 'replicator-secret'`);
    const published = await runBin('plant-climate', ['replication', 'publish', '--replicator', replicator], plantB.env);
    expect(published.code, published.stderr).toBe(0);
    expect(published.stdout).toMatch(new RegExp(`granted ${replicator}: CONNECT, USAGE on \\w+, SELECT on ${PUBLISHED_TABLES.join(', ')}, kysely_migration`));
    const asReplicator = new URL(plantB.url);
    asReplicator.username = replicator;
    asReplicator.password = 'replicator-secret';
    const subscribed = await runBin('plant-climate', ['replication', 'subscribe', '--from', asReplicator.toString()], hqEnv());
    expect(subscribed.code, subscribed.stderr).toBe(0);
    expect(subscribed.stdout).toMatch(/plant_climate_pb \(plant PB\) created/);
    await converged(hq, plants);
    expect((await query<{ plant: string }>(hq.url, `SELECT plant FROM ${plantA.schema}.headquarters_plant ORDER BY 1`)).map((row) => row.plant)).toEqual(['PA', 'PB']);

    const hqApi = await startApiBin(hq.url, plantA.schema);
    apis.push(hqApi.process);
    const locations = (await (await fetch(`${hqApi.url}/v1/locations`)).json()) as { data: { loc_id: string }[] };
    expect(locations.data.map((location) => location.loc_id)).toEqual(['PA-01', 'PA-02', 'PB-01']);
    const hourly = (await (await fetch(`${hqApi.url}/v1/hourly?loc_id=PA-01&loc_id=PB-01&from=2024-03-01&to=2024-03-03`)).json()) as { data: { loc_id: string }[] };
    expect(hourly.data.filter((row) => row.loc_id === 'PA-01')).toHaveLength(48);
    expect(hourly.data.filter((row) => row.loc_id === 'PB-01')).toHaveLength(48);
  });

  it('catches up after headquarters was down while the plants wrote, losing nothing', async () => {
    for (const api of apis) api.child.kill('SIGTERM');
    await Promise.all(apis.map((api) => api.exited()));
    await hq.stop();
    // Both plants go on: new hours, and a revision of an old one.
    for (const plant of [plantA, plantB]) {
      const locIds = (await plant.db.selectFrom('location').select('loc_id').execute()).map((row) => row.loc_id);
      await generateReadings(plant.db, { locIds, from: '2024-03-03T00:00:00Z', to: '2024-03-03T06:00:00Z', stepSeconds: 600 });
      await insertReadings(plant.db, [{ loc_id: locIds[0] ?? '', at: '2024-03-02T10:00:01Z', values: [40, 60, 12] }]);
      expect(await aggregate(plant)).toMatchObject({ dirtyHoursLeft: 0 });
    }
    // The plants keep the WAL for headquarters in its slots meanwhile.
    for (const [plant, code] of [[plantA, 'PA'], [plantB, 'PB']] as const) {
      const [slot] = await query<{ active: boolean; retained: string }>(
        plant.url,
        'SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained FROM pg_replication_slots WHERE slot_name = $1',
        [subscriptionName(code)],
      );
      expect(slot?.active).toBe(false);
      expect(Number(slot?.retained)).toBeGreaterThan(0);
    }
    const status = await runBin('plant-climate', ['replication', 'status', '--json'], plantA.env);
    expect(JSON.parse(status.stdout)).toMatchObject({ subscriptions: [], slots: [{ slot: 'plant_climate_pa', active: false, retainedBytes: expect.any(Number) as number }] });
    await hq.start();
    await converged(hq, plants);
    const [newest] = await query<{ newest: Date }>(hq.url, `SELECT max(bucket) AS newest FROM ${plantA.schema}.temperature WHERE loc_id = 'PB-01'`);
    expect(newest?.newest.toISOString()).toBe('2024-03-03T05:00:00.000Z');
  });

  it('unsubscribe drops the subscription and the plant\'s slot, keeping the rows', async () => {
    const dropped = await runBin('plant-climate', ['replication', 'unsubscribe', '--plant', 'PB'], hqEnv());
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(await query(plantB.url, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [subscriptionName('PB')])).toEqual([]);
    expect(await query(hq.url, `SELECT 1 FROM ${plantA.schema}.location WHERE loc_id = 'PB-01'`)).toHaveLength(1);
    // Subscribing again with the old rows still there would collide on the first copy: refused, saying how to fix.
    const again = await runBin('plant-climate', ['replication', 'subscribe', '--from', plantB.url], hqEnv());
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/still holds plant PB's rows from an earlier subscription.*DELETE FROM/);
  });
});

/**
 * The cross-version pair: a plant on the embedded PostgreSQL 18 (the harness's server) into a
 * headquarters on Debian's PostgreSQL 15, the version existing deployments run.
 */
describe('a headquarters on PostgreSQL 15 mirrors a plant on the embedded PostgreSQL', () => {
  let hq: HeadquartersServer | undefined;
  const plants: TestDatabase[] = [];

  afterAll(async () => {
    await killAllBins();
    await dropHeadquartersAndPlants(hq, plants);
  });

  it('converges and serves the plant\'s hours', async (context) => {
    if (!(await debianPg15Installed())) {
      const message = `SKIPPED: ${DEBIAN_PG15_BIN} is missing; install the Debian package postgresql-15 to run the cross-version replication test`;
      if (process.env.CI) throw new Error(message);
      console.warn(message);
      context.skip();
      return;
    }
    hq = await HeadquartersServer.start('15');
    const plant = await newPlant(plants, 'PC', ['PC-01']);
    expect((await runBin('plant-climate', ['replication', 'publish'], plant.env)).code).toBe(0);
    const env = { DATABASE_URL: hq.url, DB_SCHEMA: plant.schema, LOG_LEVEL: 'warn' };
    const subscribed = await runBin('plant-climate', ['replication', 'subscribe', '--from', plant.url], env);
    expect(subscribed.code, subscribed.stderr).toBe(0);
    expect((await query<{ server_version_num: string }>(hq.url, 'SHOW server_version_num'))[0]?.server_version_num ?? '').toMatch(/^15/);
    await insertReadings(plant.db, [{ loc_id: 'PC-01', at: '2024-03-02T03:15:00Z', values: [30, 55, 9] }]);
    await aggregate(plant);
    await converged(hq, plants);
    const hqApi = await startApiBin(hq.url, plant.schema);
    const plantApi = await startApiBin(plant.url, plant.schema);
    const route = '/v1/locations/PC-01/hourly?from=2024-03-01&to=2024-03-03';
    const [atPlant, atHq] = await Promise.all([fetch(`${plantApi.url}${route}`), fetch(`${hqApi.url}${route}`)]);
    expect(await atHq.json()).toEqual(await atPlant.json());
  });
});
