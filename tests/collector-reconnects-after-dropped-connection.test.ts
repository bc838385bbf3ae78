import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFaults, parseGatewayConfig, SimulatedPlant, startCollector, type RunningCollector } from '../collectors/index.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { waitFor } from './support/modbus-processes.js';

describe('a device that keeps dropping the connection', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let dir: string;
  let plant: SimulatedPlant;
  let lifecycle: Lifecycle;
  let collector: RunningCollector;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-reconnect-'));
    // Every third request, the simulated gateway closes the TCP connection without answering.
    plant = await SimulatedPlant.start({ host: '127.0.0.1', port: 0, devices: 1, unitsPerPort: 1, faults: parseFaults('sim-1:drop:3'), log });
    const text = plant.gatewayConfig({ gateway: 'gw-drop', host: '127.0.0.1', pollInterval: '200ms', timeout: '1s' }) + 'write: { max_delay: 100ms }\n';
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

  it('fails only the request the connection was lost under, reconnects and goes on polling', async () => {
    const { db } = database();
    await waitFor('10 readings', async () => {
      const { n } = await db.selectFrom('temperature_raw').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return n >= 10;
    });
    const requests = (await collector.metrics.requests.get()).values;
    const count = (result: string) => requests.find((value) => value.labels.result === result)?.value ?? 0;
    // Two answered requests for each dropped one: every loss was followed by a fresh connection.
    expect(count('error')).toBeGreaterThanOrEqual(4);
    expect(count('ok')).toBeGreaterThanOrEqual(2 * count('error') - 2);
    expect(count('timeout')).toBe(0);
  });
});
