import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { describeWithPeer, peers } from './support/peers.js';
import { readingOfEachLocation, withTestCollector } from './support/collector-in-process.js';
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
    await withTestCollector({ text, database: database(), dataDir: dir, log }, async () => {
      expect(await readingOfEachLocation(database(), 3)).toEqual(PYMODBUS_EXPECTED_ROWS);
    });
  });
});
