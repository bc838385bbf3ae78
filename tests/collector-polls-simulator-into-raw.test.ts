import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { loadGatewayConfig, pollPhases, simulatedValues } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';
import { metricsPortOf, startBin, startSimulator, waitFor, type BinProcess } from './support/modbus-processes.js';

/** What the simulator served for a location at about `captureMs` (it answered just before the response arrived). */
function servedCandidates(index: number, captureMs: number) {
  return [captureMs, captureMs - 100].map((time) => {
    const values = simulatedValues(index, time);
    return {
      temperature: Math.round(values.temperature * 10) / 10,
      humidity: Math.round(values.humidity * 10) / 10,
      pcv: Math.fround(values.pcvTemperature),
    };
  });
}

describe('collector polling the simulator', () => {
  const database = useTestDatabase();
  let dir: string;
  let simulator: BinProcess | undefined;
  let collector: BinProcess | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-e2e-'));
    const config = path.join(dir, 'gw.yaml');
    const started = await startSimulator(['--devices', '4', '--units-per-port', '2', '--poll-interval', '500ms', '--write-config', config, '--faults', 'sim-4:gap,sim-3:nan']);
    simulator = started.bin;
    collector = startBin(['--config', config], { ...database().env, PLANT_DATA_DIR: dir, COLLECTOR_METRICS_PORT: '0' });
  });

  afterAll(async () => {
    await collector?.stop('SIGKILL');
    await simulator?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('fills temperature_raw with the values the simulator served, for every device', async () => {
    const { db } = database();
    const counts = async () =>
      db.selectFrom('temperature_raw').select(['loc_id', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('loc_id').orderBy('loc_id').execute();
    await waitFor('6 readings per location', async () => {
      const rows = await counts();
      return rows.length === 4 && rows.every((row) => row.n >= 6);
    });
    const rows = await db.selectFrom('temperature_raw').selectAll().orderBy('loc_id').orderBy('capture_dt').execute();
    const gateway = await loadGatewayConfig(path.join(dir, 'gw.yaml'));
    const phases = pollPhases(gateway.devices.map((device) => ({ endpoint: `${device.host}:${device.port}`, intervalMs: device.pollIntervalMs })));
    // Two endpoints: the second is polled half an interval after the first.
    expect(new Set(phases)).toEqual(new Set([0, 250]));
    for (const [index, locId] of ['SIM-01', 'SIM-02', 'SIM-03', 'SIM-04'].entries()) {
      // Aligned fixed-rate polls: readings arrive shortly after each tick (multiples of 500 ms
      // plus the endpoint's phase), one per tick.
      const phase = phases[gateway.devices.findIndex((device) => device.locId === locId)] ?? Number.NaN;
      const captures = rows.filter((row) => row.loc_id === locId).map((row) => row.capture_dt.getTime() - phase);
      const lateness = captures.map((ms) => ms % 500).sort((a, b) => a - b);
      expect(lateness[Math.floor(lateness.length / 2)], `${locId} (#${index}) lateness ${lateness.join(',')}`).toBeLessThan(100);
      expect(new Set(captures.map((ms) => Math.floor(ms / 500))).size).toBe(captures.length);
    }
    for (const row of rows) {
      const index = Number(row.loc_id.slice(4)) - 1;
      expect(row.gateway_id).toBe('gw-sim');
      const candidates = servedCandidates(index, row.capture_dt.getTime());
      expect(candidates.some((served) => served.temperature === row.temperature && served.humidity === row.humidity), `${row.loc_id} at ${row.capture_dt.toISOString()}`).toBe(true);
      if (row.loc_id === 'SIM-03') expect(row.pcv_temperature).toBeNull();
      else expect(candidates.some((served) => Math.abs(served.pcv - (row.pcv_temperature ?? Number.NaN)) < 1e-4)).toBe(true);
    }
  });

  it('still reads a device that refuses the coalesced request with exception 2, and remembers the split', async () => {
    const { db } = database();
    const sim4 = await db.selectFrom('temperature_raw').selectAll().where('loc_id', '=', 'SIM-04').execute();
    expect(sim4.length).toBeGreaterThanOrEqual(6);
    for (const row of sim4) expect([row.temperature, row.humidity, row.pcv_temperature]).not.toContain(null);
    expect(collector!.stderr.match(/refused a coalesced read/g)?.length).toBe(1);
  });

  it('keeps the device table current and serves the metrics', async () => {
    const { db } = database();
    const devices = await waitFor('4 device rows', async () => {
      const rows = await db.selectFrom('device').selectAll().orderBy('device_id').execute();
      return rows.length === 4 && rows.every((row) => row.last_ok_at !== null) ? rows : undefined;
    });
    // poll_interval_ms: what the hourly rows' expected_count is made of (7200 readings an hour at 500ms).
    expect(devices.map((device) => [device.gateway_id, device.device_id, device.loc_id, device.unit_id, device.consecutive_failures, device.poll_interval_ms])).toEqual([
      ['gw-sim', 'sim-1', 'SIM-01', 1, 0, 500],
      ['gw-sim', 'sim-2', 'SIM-02', 2, 0, 500],
      ['gw-sim', 'sim-3', 'SIM-03', 1, 0, 500],
      ['gw-sim', 'sim-4', 'SIM-04', 2, 0, 500],
    ]);
    const port = metricsPortOf(collector!);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/plant_collector_polls_total\{device="sim-1",result="ok"\} [1-9]/);
    expect(text).toMatch(/plant_collector_requests_total\{function="read_input_registers",result="exception"\} [1-9]/);
    expect(text).toMatch(/plant_collector_null_values_total\{metric="pcv_temperature",reason="nan"\} [1-9]/);
    expect(text).toMatch(/plant_collector_readings_written_total [1-9]/);
    for (const name of ['plant_collector_poll_duration_seconds_bucket', 'plant_collector_spool_bytes 0', 'plant_collector_spool_batches 0', 'plant_collector_spool_oldest_age_seconds 0', 'plant_collector_last_success_timestamp_seconds{device="sim-4"}', 'plant_collector_db_write_duration_seconds_count', 'plant_collector_process_resident_memory_bytes']) {
      expect(text).toContain(name);
    }
  });

  it('flushes what it polled on SIGTERM and exits 0', async () => {
    const { db } = database();
    expect(await collector!.stop('SIGTERM')).toBe(0);
    const { rows } = await sql<{ newest: Date }>`SELECT max(capture_dt) AS newest FROM temperature_raw`.execute(db);
    const stoppedLine = collector!.stderr.split('\n').find((line) => line.includes('"collector stopped"'));
    expect(stoppedLine).toContain('"spooledReadings":0');
    // The last poll before the signal was written, not left in memory.
    const signalledAt = Date.parse((JSON.parse(collector!.stderr.split('\n').find((line) => line.includes('"SIGTERM"'))!) as { time: string }).time);
    expect(signalledAt - rows[0].newest.getTime()).toBeLessThan(1_000);
  });
});
