import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { rawPartitionName } from '../db/index.js';
import { writeReadings } from '../collectors/raw-table-writer.js';
import { useTestDatabase } from './support/database.js';
import { runBin } from './support/processes.js';

const PREFIX = `t${randomBytes(4).toString('hex')}_`;
const PASSWORDS = { collector: 'collector-pw-1234', aggregator: 'aggregator-pw-1234', api: 'api-pw-12345678' } as const;
const DENIED = '42501';

describe('plant-climate roles', () => {
  const database = useTestDatabase();
  const clients: pg.Client[] = [];

  /** A session logged in as the component's role, with search_path on the plant schema as the components have. */
  function settingsOf(component: keyof typeof PASSWORDS): pg.ClientConfig {
    const url = new URL(database().url);
    url.username = `${PREFIX}${component}`;
    url.password = PASSWORDS[component];
    return { connectionString: url.toString(), options: `-c search_path=${database().schema}` };
  }
  async function as(component: keyof typeof PASSWORDS): Promise<pg.Client> {
    const client = new pg.Client(settingsOf(component));
    await client.connect();
    clients.push(client);
    return client;
  }
  const code = (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string; message?: string }) => error.code ?? error.message ?? 'failed');

  const env = () => ({
    ...database().env,
    COLLECTOR_DB_PASSWORD: PASSWORDS.collector,
    AGGREGATOR_DB_PASSWORD: PASSWORDS.aggregator,
    API_DB_PASSWORD: PASSWORDS.api,
    LOG_LEVEL: 'warn',
  });

  beforeAll(async () => {
    const run = await runBin('plant-climate', ['roles', '--prefix', PREFIX], env());
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`${PREFIX}api (api): created, password set`);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end()));
    const roles = Object.keys(PASSWORDS).map((component) => `"${PREFIX}${component}"`).join(', ');
    await database().pool.query(`DROP OWNED BY ${roles}`);
    await database().pool.query(`DROP ROLE ${roles}`);
  });

  it('lets the API read everything and write locations, but not delete raw rows or touch the hourly table', async () => {
    const api = await as('api');
    expect(await code(api.query('SELECT count(*) FROM temperature_raw'))).toBe('ok');
    expect(await code(api.query('SELECT count(*) FROM temperature'))).toBe('ok');
    expect(await code(api.query("INSERT INTO location (loc_id, name) VALUES ('R-01', 'Roles') ON CONFLICT (loc_id) DO UPDATE SET name = excluded.name"))).toBe('ok');
    expect(await code(api.query('DELETE FROM temperature_raw'))).toBe(DENIED);
    expect(await code(api.query('DELETE FROM temperature'))).toBe(DENIED);
    expect(await code(api.query('DROP TABLE temperature_raw'))).not.toBe('ok');
    expect(await code(api.query("INSERT INTO temperature_raw (loc_id, capture_dt, gateway_id) VALUES ('R-01', now(), 'gw')"))).toBe(DENIED);
  });

  it('lets the collector insert raw readings (its triggers mark dirty hours) and upsert devices, but not read the hourly table', async () => {
    const collector = await as('collector');
    expect(await code(collector.query('SELECT * FROM temperature LIMIT 1'))).toBe(DENIED);
    expect(await code(collector.query('SELECT * FROM location LIMIT 1'))).toBe(DENIED);
    // Only the key columns, which ON CONFLICT needs, never the readings.
    expect(await code(collector.query('SELECT temperature FROM temperature_raw LIMIT 1'))).toBe(DENIED);
    const insert = `INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
      SELECT r.loc_id, r.capture_dt, 21.5, 40, NULL, 'gw-r' FROM unnest($1::text[], $2::timestamptz[]) AS r(loc_id, capture_dt)
      ON CONFLICT (loc_id, capture_dt) DO NOTHING`;
    expect(await code(collector.query(insert, [['R-01'], ['2024-01-01T00:00:10Z']]))).toBe('ok');
    expect(await code(collector.query(insert, [['R-01'], ['2024-01-01T00:00:10Z']]))).toBe('ok');
    const upsert = `INSERT INTO device AS d (gateway_id, device_id, loc_id, host, port, unit_id, consecutive_failures, updated_at)
      VALUES ('gw-r', 'd-1', 'R-01', '10.0.0.1', 502, 1, 0, now())
      ON CONFLICT (gateway_id, device_id) DO UPDATE SET loc_id = excluded.loc_id, last_ok_at = COALESCE(excluded.last_ok_at, d.last_ok_at), updated_at = now()`;
    expect(await code(collector.query(upsert))).toBe('ok');
    expect(await code(collector.query(upsert))).toBe('ok');
    expect(await code(collector.query('DELETE FROM temperature_raw'))).toBe(DENIED);
    const marks = await database().pool.query("SELECT count(*)::int AS n FROM raw_dirty_hour WHERE loc_id = 'R-01'");
    expect(marks.rows[0]).toEqual({ n: 1 });
  });

  it("lets the collector write a reading into a frozen hour, which the database counts for the aggregator's alert", async () => {
    await database().pool.query("UPDATE aggregator_state SET frozen_before = '2024-06-01T00:00:00Z', frozen_late_readings = 0");
    try {
      const collector = await as('collector');
      const late = `INSERT INTO temperature_raw (loc_id, capture_dt, temperature, gateway_id) VALUES ('R-01', '2024-01-02T00:00:10Z', 20, 'gw-r')`;
      expect(await code(collector.query(late))).toBe('ok');
      expect(await code(collector.query('SELECT frozen_late_readings FROM aggregator_state'))).toBe(DENIED);
      const state = await database().pool.query('SELECT frozen_late_readings::int AS n FROM aggregator_state');
      expect(state.rows[0]).toEqual({ n: 1 });
    } finally {
      await database().pool.query('UPDATE aggregator_state SET frozen_before = NULL, frozen_late_readings = 0');
    }
  });

  it('lets the aggregator read and delete raw rows and write hourly rows, but not write master data', async () => {
    const aggregator = await as('aggregator');
    expect(await code(aggregator.query("DELETE FROM temperature_raw WHERE loc_id = 'R-01' AND capture_dt < '2000-01-01'"))).toBe('ok');
    expect(
      await code(
        aggregator.query(`INSERT INTO temperature (loc_id, bucket, ymd, hh, sample_count) VALUES ('R-01', '2024-01-01T00:00:00Z', '20240101', '00', 1)
          ON CONFLICT (loc_id, bucket) DO UPDATE SET sample_count = excluded.sample_count`),
      ),
    ).toBe('ok');
    expect(await code(aggregator.query('UPDATE aggregator_state SET last_run_at = now()'))).toBe('ok');
    expect(await code(aggregator.query("DELETE FROM raw_dirty_hour WHERE loc_id = 'R-01'"))).toBe('ok');
    expect(await code(aggregator.query("UPDATE location SET name = 'x'"))).toBe(DENIED);
    expect(await code(aggregator.query("UPDATE device SET host = 'x'"))).toBe(DENIED);
  });

  it('lets the aggregator create raw partitions and drop those behind the horizon, and no other role', async () => {
    const [collector, api, aggregator] = [await as('collector'), await as('api'), await as('aggregator')];
    expect(await code(collector.query("SELECT raw_partition_create('2024-08-01')"))).toBe(DENIED);
    expect(await code(api.query("SELECT raw_partition_create('2024-08-01')"))).toBe(DENIED);
    expect((await aggregator.query("SELECT raw_partition_create('2024-08-01') AS name")).rows).toEqual([{ name: 'temperature_raw_p20240801' }]);
    expect(await code(aggregator.query('SELECT raw_readings_outside_partitions()'))).toBe('ok');
    await database().pool.query("UPDATE aggregator_state SET frozen_before = '2024-08-02T00:00:00Z'");
    try {
      expect(await code(api.query("SELECT * FROM raw_partition_drop('temperature_raw_p20240801', true)"))).toBe(DENIED);
      expect((await aggregator.query("SELECT * FROM raw_partition_drop('temperature_raw_p20240801', true)")).rows).toEqual([{ readings: 0, dropped: true }]);
    } finally {
      await database().pool.query('UPDATE aggregator_state SET frozen_before = NULL');
    }
  });

  it('lets the collector COPY into day partitions, those there when roles ran and those created after, and do nothing more there', async () => {
    const [collector, aggregator] = [await as('collector'), await as('aggregator')];
    const copyInto = async (table: string, line: string) => {
      const copy = collector.query(copyFrom(`COPY ${table} (loc_id, capture_dt, temperature, gateway_id) FROM STDIN`));
      await pipeline(Readable.from([`${line}\n`]), copy);
    };
    // Today's partition was made by migrate, before roles ran; 2024-09-02's by the aggregator now, after.
    const today = rawPartitionName(Date.now());
    expect(await code(copyInto(today, `R-03\t${new Date().toISOString()}\t21.5\tgw-r`))).toBe('ok');
    const later = 'temperature_raw_p20240902';
    expect((await aggregator.query<{ name: string }>("SELECT raw_partition_create('2024-09-02') AS name")).rows).toEqual([{ name: later }]);
    expect(await code(copyInto(later, 'R-03\t2024-09-02T10:00:00Z\t21.5\tgw-r'))).toBe('ok');
    // The collector's own writer names the partition too, and its rows are where their day says.
    const writer = new pg.Pool(settingsOf('collector'));
    try {
      expect(await writeReadings(writer, 'gw-r', [{ locId: 'R-03', captureMs: Date.parse('2024-09-02T11:00:00Z'), values: { temperature: 21, humidity: null, pcv_temperature: null } }], 10_000)).toBe(1);
    } finally {
      await writer.end();
    }
    const stored = await database().pool.query<{ partition: string; n: number }>(
      "SELECT tableoid::regclass::text AS partition, count(*)::int AS n FROM temperature_raw WHERE loc_id = 'R-03' GROUP BY 1 ORDER BY 1",
    );
    expect(stored.rows).toEqual([{ partition: later, n: 2 }, { partition: today, n: 1 }]);
    for (const table of [today, later]) {
      expect(await code(collector.query(`SELECT temperature FROM ${table} LIMIT 1`))).toBe(DENIED);
      expect(await code(collector.query(`DELETE FROM ${table}`))).toBe(DENIED);
      expect(await code(collector.query(`TRUNCATE ${table}`))).toBe(DENIED);
      expect(await code(collector.query(`UPDATE ${table} SET temperature = 0`))).toBe(DENIED);
    }
    expect(await code(collector.query('DELETE FROM temperature_raw_default'))).toBe(DENIED);
    // The others keep theirs: the aggregator deletes through the parent and reads, the API reads.
    expect(await code(aggregator.query(`SELECT count(*) FROM ${later}`))).toBe('ok');
    expect(await code(aggregator.query(`INSERT INTO ${later} (loc_id, capture_dt, gateway_id) VALUES ('R-03', '2024-09-02T12:00:00Z', 'gw')`))).toBe(DENIED);
    expect(await code((await as('api')).query(`INSERT INTO ${later} (loc_id, capture_dt, gateway_id) VALUES ('R-03', '2024-09-02T12:00:00Z', 'gw')`))).toBe(DENIED);
  });

  it('can be run again, and gives the API read access to tables created later', async () => {
    const again = await runBin('plant-climate', ['roles', '--prefix', PREFIX], env());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`${PREFIX}api (api): updated, password set`);
    await database().pool.query('CREATE TABLE later_table (id int)');
    const api = await as('api');
    expect(await code(api.query('SELECT * FROM later_table'))).toBe('ok');
    expect(await code(api.query('INSERT INTO later_table VALUES (1)'))).toBe(DENIED);
    const collector = await as('collector');
    expect(await code(collector.query('SELECT * FROM later_table'))).toBe(DENIED);
  });

  it('lets no component change or remove audit entries or threshold versions, while each may append', async () => {
    const api = await as('api');
    const aggregator = await as('aggregator');
    const collector = await as('collector');
    for (const [client, actor] of [[api, 'key-1'], [aggregator, 'os:aggregator'], [collector, 'os:collector']] as const) {
      expect(await code(client.query(`INSERT INTO audit_log (actor, action) VALUES ('${actor}', 'location.update')`))).toBe('ok');
    }
    expect(await code(api.query('SELECT count(*) FROM audit_log'))).toBe('ok');
    for (const client of [api, aggregator, collector]) {
      expect(await code(client.query('DELETE FROM audit_log'))).toBe(DENIED);
      expect(await code(client.query("UPDATE audit_log SET reason = 'x'"))).toBe(DENIED);
      expect(await code(client.query('TRUNCATE audit_log'))).toBe(DENIED);
    }
    // A threshold version written by the API marks its hours dirty through the SECURITY DEFINER trigger.
    await database().pool.query("INSERT INTO temperature_raw (loc_id, capture_dt, temperature, gateway_id) VALUES ('R-09', '2024-06-03T10:00:00Z', 20, 'gw')");
    await database().pool.query("DELETE FROM raw_dirty_hour WHERE loc_id = 'R-09'");
    expect(
      await code(api.query("INSERT INTO location_threshold (loc_id, valid_from, temperature_max, changed_by, reason) VALUES ('R-09', '2024-06-01T00:00:00Z', 25, 'key-1', 'test')")),
    ).toBe('ok');
    expect((await database().pool.query("SELECT count(*)::int AS n FROM raw_dirty_hour WHERE loc_id = 'R-09'")).rows).toEqual([{ n: 1 }]);
    expect(await code(api.query("UPDATE location_threshold SET temperature_max = 99 WHERE loc_id = 'R-09'"))).toBe(DENIED);
    expect(await code(api.query("DELETE FROM location_threshold WHERE loc_id = 'R-09'"))).toBe(DENIED);
    // The owner is stopped by the triggers, not only by grants.
    await expect(database().pool.query('DELETE FROM audit_log')).rejects.toThrow(/audit_log is append-only: DELETE refused/);
  });
  it('lets the aggregator write revisions, history and tombstones only through the trigger and prune them, and the API read the feed', async () => {
    const aggregator = await as('aggregator');
    const api = await as('api');
    // The aggregator's writes draw revisions and write history and tombstones (SECURITY DEFINER trigger).
    const row = "('R-10', '2024-06-04T10:00:00Z', '20240604', '10', 1)";
    expect(await code(aggregator.query(`INSERT INTO temperature (loc_id, bucket, ymd, hh, sample_count) VALUES ${row}`))).toBe('ok');
    expect(await code(aggregator.query("UPDATE temperature SET sample_count = 2 WHERE loc_id = 'R-10'"))).toBe('ok');
    expect(await code(aggregator.query("DELETE FROM temperature WHERE loc_id = 'R-10'"))).toBe('ok');
    const counts = await database().pool.query(
      "SELECT (SELECT count(*)::int FROM temperature_history WHERE loc_id = 'R-10') AS versions, (SELECT count(*)::int FROM temperature_tombstone WHERE loc_id = 'R-10') AS tombstones",
    );
    expect(counts.rows).toEqual([{ versions: 2, tombstones: 1 }]);
    // Its audit entries give back their id (the history links to them), but it reads nothing else of the log.
    expect(await code(aggregator.query("INSERT INTO audit_log (actor, action) VALUES ('os:aggregator', 'aggregator.backfill') RETURNING id"))).toBe('ok');
    expect(await code(aggregator.query('SELECT actor FROM audit_log'))).toBe(DENIED);
    // History and tombstones are written by the trigger alone; the prune may remove them.
    expect(await code(aggregator.query("INSERT INTO temperature_tombstone (loc_id, bucket, revision, cause) VALUES ('R-11', now(), 1, 'x')"))).toBe(DENIED);
    expect(await code(aggregator.query("DELETE FROM temperature_history WHERE loc_id = 'R-10'"))).toBe('ok');
    expect(await code(aggregator.query("DELETE FROM temperature_tombstone WHERE loc_id = 'R-10'"))).toBe('ok');
    // The API reads the feed's horizon and tables, and writes none of them.
    expect(await code(api.query('SELECT * FROM temperature_revision_horizon()'))).toBe('ok');
    expect(await code(api.query('SELECT count(*) FROM temperature_history, temperature_tombstone'))).toBe('ok');
    expect(await code(api.query("DELETE FROM temperature_tombstone WHERE loc_id = 'R-10'"))).toBe(DENIED);
    expect(await code(api.query("SELECT nextval('temperature_revision_seq')"))).toBe(DENIED);
  });
});
