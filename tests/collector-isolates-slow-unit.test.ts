import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFaults, parseGatewayConfig, SimulatedPlant, startCollector, type RunningCollector } from '../collectors/index.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { waitFor } from './support/modbus-processes.js';

const INTERVAL_MS = 500;
const TIMEOUT_MS = 400;

describe('one unit timing out behind a shared endpoint', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let dir: string;
  let plant: SimulatedPlant;
  let lifecycle: Lifecycle;
  let collector: RunningCollector;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-isolation-'));
    // Four units behind one port, like a TCP-to-RTU gateway; unit 2 never answers.
    plant = await SimulatedPlant.start({ host: '127.0.0.1', port: 0, devices: 4, unitsPerPort: 4, faults: parseFaults('sim-2:timeout'), log });
    const text = plant.gatewayConfig({ gateway: 'gw-iso', host: '127.0.0.1', pollInterval: `${INTERVAL_MS}ms`, timeout: `${TIMEOUT_MS}ms` }) + 'write: { max_delay: 100ms }\n';
    lifecycle = new Lifecycle(log);
    collector = await startCollector({
      gateway: parseGatewayConfig(text, 'gw.yaml'),
      config: { databaseUrl: database().url, dbSchema: database().schema, dataDir: dir, collector: { metricsPort: 0 } },
      log,
      lifecycle,
      metricsHost: '127.0.0.1',
    });
  });

  afterAll(async () => {
    await lifecycle.shutdown('test done');
    await plant.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps the other units polled on schedule, and polls the dead one less often', async () => {
    const { db } = database();
    await waitFor(
      '16 readings per healthy unit',
      async () => {
        const rows = await db.selectFrom('temperature_raw').select(['loc_id', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('loc_id').execute();
        return rows.length === 3 && rows.every((row) => row.n >= 16);
      },
      30_000,
    );
    await collector.stop();
    const rows = await db.selectFrom('temperature_raw').select(['loc_id', 'capture_dt']).orderBy('loc_id').orderBy('capture_dt').execute();
    expect(new Set(rows.map((row) => row.loc_id))).toEqual(new Set(['SIM-01', 'SIM-03', 'SIM-04']));
    for (const locId of ['SIM-01', 'SIM-03', 'SIM-04']) {
      const captures = rows.filter((row) => row.loc_id === locId).map((row) => row.capture_dt.getTime());
      // Every scheduled poll produced a reading (no tick lost to the dead unit's timeouts) ...
      const ticks = captures.map((ms) => Math.floor(ms / INTERVAL_MS));
      expect(ticks, locId).toEqual(ticks.map((_, index) => ticks[0] + index));
      // ... and each arrived well before a single timeout of the dead unit would have let it, once
      // the dead unit has been seen failing (in the very first round nobody knows it is dead yet).
      const lateness = captures.slice(1).map((ms) => ms % INTERVAL_MS);
      expect(Math.max(...lateness), `${locId} lateness ${lateness.join(',')}`).toBeLessThan(TIMEOUT_MS - 100);
    }
    const polls = (await collector.metrics.polls.get()).values;
    const deadTimeouts = polls.find((value) => value.labels.device === 'sim-2' && value.labels.result === 'timeout')?.value ?? 0;
    const healthyPolls = polls.find((value) => value.labels.device === 'sim-1' && value.labels.result === 'ok')?.value ?? 0;
    expect(deadTimeouts).toBeGreaterThanOrEqual(3);
    // The circuit breaker: after three timeouts the dead unit is only probed now and then.
    expect(deadTimeouts).toBeLessThan(healthyPolls / 2);
    const device = await db.selectFrom('device').selectAll().where('device_id', '=', 'sim-2').executeTakeFirstOrThrow();
    expect(device.last_ok_at).toBeNull();
    expect(device.consecutive_failures).toBe(deadTimeouts);
    expect(device.last_error).toMatch(/did not answer within 400 ms/);
  });
});
