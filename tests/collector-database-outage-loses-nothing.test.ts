import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { readJournalDirectory } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';
import { metricsPortOf, startBin, startSimulator, waitFor, type BinProcess } from './support/modbus-processes.js';
import { TcpProxy, throughProxy } from './support/modbus-tcp-proxy.js';

const INTERVAL_MS = 500;

describe('collector during a database outage', () => {
  const database = useTestDatabase();
  let dir: string;
  let config: string;
  let simulator: BinProcess | undefined;
  let proxy: TcpProxy;
  const collectors: BinProcess[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-outage-'));
    config = path.join(dir, 'gw.yaml');
    simulator = (await startSimulator(['--devices', '3', '--poll-interval', `${INTERVAL_MS}ms`, '--write-config', config])).bin;
    // Short batches and write timeouts so the outage is noticed and spooled within a poll or two.
    await fs.appendFile(config, 'write: { max_delay: 200ms, timeout: 2s }\n');
    const target = new URL(database().url);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
  });

  afterEach(async () => {
    for (const collector of collectors.splice(0)) await collector.stop('SIGKILL');
    proxy.restore();
    await database().db.deleteFrom('temperature_raw').execute();
    await fs.rm(path.join(dir, 'spool'), { recursive: true, force: true });
  });

  afterAll(async () => {
    await simulator?.stop();
    await proxy.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const spoolDir = () => path.join(dir, 'spool', 'gw-sim');
  const startCollector = () => {
    const collector = startBin(['--config', config], { ...database().env, DATABASE_URL: throughProxy(database().url, proxy), PLANT_DATA_DIR: dir, COLLECTOR_METRICS_PORT: '0' });
    collectors.push(collector);
    return collector;
  };
  const rowCount = async () => Number((await sql<{ n: number }>`SELECT count(*) AS n FROM temperature_raw`.execute(database().db)).rows[0]?.n);
  const spooledReadings = async () => (await readJournalDirectory(spoolDir())).map((record) => record.reading);
  const gaugeOf = async (collector: BinProcess, name: string) => {
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPortOf(collector)}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
  };

  it('stores every reading polled while the database was away, exactly once', async () => {
    const collector = startCollector();
    await waitFor('readings before the outage', async () => (await rowCount()) >= 6);
    proxy.cut();
    const cutAt = Date.now();
    await waitFor('readings journaled during the outage', async () => (await gaugeOf(collector, 'plant_collector_spool_readings')) >= 12 && Date.now() - cutAt >= 4_000, 30_000);
    expect(await gaugeOf(collector, 'plant_collector_spool_bytes')).toBeGreaterThan(0);
    expect(await gaugeOf(collector, 'plant_collector_spool_batches')).toBeGreaterThanOrEqual(1);
    expect(await gaugeOf(collector, 'plant_collector_spool_oldest_age_seconds')).toBeGreaterThanOrEqual(2);
    expect(await gaugeOf(collector, 'plant_collector_database_reachable')).toBe(0);
    proxy.restore();
    const restoredAt = Date.now();
    await waitFor('the spool to drain and new readings to arrive', async () => {
      if ((await gaugeOf(collector, 'plant_collector_spool_readings')) > 0) return false;
      const { rows } = await sql<{ newest: Date }>`SELECT max(capture_dt) AS newest FROM temperature_raw`.execute(database().db);
      return rows[0].newest.getTime() > restoredAt + 1_000;
    }, 30_000);
    expect(await collector.stop('SIGTERM')).toBe(0);

    const rows = await database()
      .db.selectFrom('temperature_raw')
      .select(['loc_id', 'capture_dt'])
      .orderBy('loc_id')
      .orderBy('capture_dt')
      .execute();
    const byLocation = new Map<string, typeof rows>();
    for (const row of rows) byLocation.set(row.loc_id, [...(byLocation.get(row.loc_id) ?? []), row]);
    expect([...byLocation.keys()]).toEqual(['SIM-01', 'SIM-02', 'SIM-03']);
    for (const [locId, readings] of byLocation) {
      // One reading per scheduled poll from the first to the last, none missing and none twice.
      const ticks = readings.map((row) => Math.floor(row.capture_dt.getTime() / INTERVAL_MS));
      const first = ticks[0];
      expect(ticks, locId).toEqual(ticks.map((_, index) => first + index));
      expect(readings.some((row) => row.capture_dt.getTime() > cutAt && row.capture_dt.getTime() < restoredAt - 1_000)).toBe(true);
    }
    expect(collector.stderr).toContain('spooling to disk');
    expect(collector.stderr).toContain('database reachable again');
  });

  it('keeps what reached the spool when killed with SIGKILL mid-outage, and replays it once after a restart', async () => {
    const first = startCollector();
    await waitFor('readings before the outage', async () => (await rowCount()) >= 6);
    proxy.cut();
    await waitFor('readings journaled', async () => (await gaugeOf(first, 'plant_collector_spool_readings')) >= 15, 30_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const spooled = await spooledReadings();
    expect(spooled.length).toBeGreaterThanOrEqual(15);

    const second = startCollector();
    await waitFor('the restarted collector to journal more', async () => (await spooledReadings()).length > spooled.length, 30_000);
    proxy.restore();
    await waitFor('the journal to drain', async () => (await gaugeOf(second, 'plant_collector_spool_readings')) === 0, 30_000);
    expect(await second.stop('SIGTERM')).toBe(0);

    const stored = await database().db.selectFrom('temperature_raw').select(['loc_id', 'capture_dt', 'temperature', 'humidity', 'pcv_temperature']).execute();
    const key = (locId: string, ms: number) => `${locId}@${ms}`;
    const storedByKey = new Map(stored.map((row) => [key(row.loc_id, row.capture_dt.getTime()), row]));
    expect(storedByKey.size).toBe(stored.length);
    for (const reading of spooled) {
      const row = storedByKey.get(key(reading.locId, reading.captureMs));
      expect(row, key(reading.locId, reading.captureMs)).toBeDefined();
      expect([row!.temperature, row!.humidity, row!.pcv_temperature]).toEqual([reading.values.temperature, reading.values.humidity, reading.values.pcv_temperature]);
    }
    expect(second.stderr).toContain('journal holds readings from an earlier run');
  });
});
