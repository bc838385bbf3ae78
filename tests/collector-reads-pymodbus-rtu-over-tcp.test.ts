import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { describeWithPeer, peers } from './support/peers.js';
import { PYMODBUS_REGISTERS, startPymodbus, type PymodbusServer } from './support/pymodbus-peer.js';
import { expectRtuBusRead, RTU_BUS_REGISTERS, RTU_BUS_SPARSE_UNITS } from './support/rtu-bus.js';

/**
 * pymodbus serving raw RTU frames (address, PDU, CRC; no MBAP header) over TCP, what a serial
 * device server in TCP server mode carries: the Modbus TCP tests' units, plus a unit that refuses
 * a coalesced read with exception 2 and a unit id nobody answers.
 */
describeWithPeer(peers.pymodbus, 'collector against pymodbus serving RTU over TCP', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let server: PymodbusServer;
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-rtu-tcp-'));
    server = await startPymodbus([...PYMODBUS_REGISTERS, ...RTU_BUS_REGISTERS], { transport: 'rtu-over-tcp', sparse: RTU_BUS_SPARSE_UNITS });
  });

  afterAll(async () => {
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reads every live unit on the line, splits the refused read, and a dead unit costs only its timeout until its breaker opens', async () => {
    const line = `transport: rtu-over-tcp\nhost: 127.0.0.1\nport: ${server.ready.port}\nbaud_rate: 115200`;
    await expectRtuBusRead('gw-rtu-tcp', line, { database: database(), dataDir: dir, log });
  });
});
