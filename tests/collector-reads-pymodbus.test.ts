import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseGatewayConfig, startCollector } from '../collectors/index.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { describeWithPeer, peers } from './support/peers.js';
import { waitFor } from './support/modbus-processes.js';
import { PYMODBUS_EXPECTED_ROWS, PYMODBUS_REGISTERS, pymodbusDevicesYaml, startPymodbus, type PymodbusServer } from './support/pymodbus-peer.js';

describeWithPeer(peers.pymodbus, 'collector against pymodbus', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let server: PymodbusServer;
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-pymodbus-'));
    server = await startPymodbus(PYMODBUS_REGISTERS);
  });

  afterAll(async () => {
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('decodes int16, uint16 and float32 (CDAB and ABCD) from several unit ids on one endpoint', async () => {
    const text = `
gateway: gw-py
poll_interval: 500ms
timeout: 1s
write: { max_delay: 100ms }
devices:${pymodbusDevicesYaml(`host: 127.0.0.1\nport: ${server.ready.port}`)}`;
    const lifecycle = new Lifecycle(log);
    try {
      await startCollector({
        gateway: parseGatewayConfig(text, 'gw.yaml'),
        config: { databaseUrl: database().url, dbSchema: database().schema, dataDir: dir, collector: { metricsPort: 0 } },
        log,
        lifecycle,
        metricsHost: '127.0.0.1',
      });
      const { db } = database();
      const rows = await waitFor('a reading from each unit', async () => {
        const found = await db.selectFrom('temperature_raw').select(['loc_id', 'temperature', 'humidity', 'pcv_temperature']).distinctOn('loc_id').orderBy('loc_id').execute();
        return found.length === 3 ? found : undefined;
      });
      expect(rows).toEqual(PYMODBUS_EXPECTED_ROWS);
    } finally {
      await lifecycle.shutdown('test done');
    }
  });
});
