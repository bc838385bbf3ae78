import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { describeWithPeer, peers } from './support/peers.js';
import { PYMODBUS_REGISTERS, startPymodbus, type PymodbusServer } from './support/pymodbus-peer.js';
import { expectRtuBusRead, RTU_BUS_REGISTERS, RTU_BUS_SPARSE_UNITS } from './support/rtu-bus.js';
import { startSerialPair, type SerialPair } from './support/serial-pair.js';

/**
 * pymodbus serving RTU on one end of a socat pty pair, the collector on the other through
 * serialport (modbus-serial's RTUBufferedPort): the same units as over TCP, with the unit that
 * refuses a coalesced read and the dead one.
 */
describeWithPeer([peers.socat, peers.pymodbusSerial], 'collector against pymodbus on a serial line (socat pty pair)', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let pair: SerialPair;
  let server: PymodbusServer;
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-serial-'));
    pair = await startSerialPair(dir);
    server = await startPymodbus([...PYMODBUS_REGISTERS, ...RTU_BUS_REGISTERS], { transport: 'rtu', device: pair.peerEnd, baudrate: 19200, sparse: RTU_BUS_SPARSE_UNITS });
  });

  afterAll(async () => {
    await server?.stop();
    await pair?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reads every live unit on the bus, splits the refused read, and keeps the dead unit to its breaker\'s probes', async () => {
    const line = `transport: rtu\ndevice: ${pair.collectorEnd}\nbaud_rate: 19200`;
    await expectRtuBusRead('gw-serial', line, { database: database(), dataDir: dir, log });
  });
});
