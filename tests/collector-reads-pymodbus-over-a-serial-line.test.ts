import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { describeWithPeer, peers } from './support/peers.js';
import { readingOfEachLocation, withTestCollector } from './support/collector-in-process.js';
import { PYMODBUS_REGISTERS, pymodbusDevicesYaml, startPymodbus, type PymodbusServer } from './support/pymodbus-peer.js';
import { expectDeadUnitContained, rtuBusDevicesYaml, RTU_BUS_EXPECTED_ROWS, RTU_BUS_REGISTERS, RTU_BUS_SPARSE_UNITS } from './support/rtu-bus.js';
import { startSerialPair, type SerialPair } from './support/serial-pair.js';

const INTERVAL_MS = 400;
const TIMEOUT_MS = 250;

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
    const text = `
gateway: gw-serial
poll_interval: ${INTERVAL_MS}ms
timeout: ${TIMEOUT_MS}ms
write: { max_delay: 100ms }
devices:${pymodbusDevicesYaml(line)}${rtuBusDevicesYaml(line)}`;
    await withTestCollector({ text, database: database(), dataDir: dir, log }, async (running) => {
      expect(await readingOfEachLocation(database(), 4)).toEqual(RTU_BUS_EXPECTED_ROWS);
      await expectDeadUnitContained(running);
    });
  });
});
