import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseGatewayConfig, startCollector, type RunningCollector } from '../collectors/index.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { describeWithPeer, peers } from './support/peers.js';
import { waitFor } from './support/modbus-processes.js';
import { PYMODBUS_EXPECTED_ROWS, PYMODBUS_REGISTERS, pymodbusDevicesYaml, startPymodbus, type PymodbusServer } from './support/pymodbus-peer.js';
import { pollCounts, rtuBusDevicesYaml, RTU_BUS_REGISTERS, RTU_BUS_SPARSE_UNITS } from './support/rtu-bus.js';

const INTERVAL_MS = 400;
const TIMEOUT_MS = 250;

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
    const text = `
gateway: gw-rtu-tcp
poll_interval: ${INTERVAL_MS}ms
timeout: ${TIMEOUT_MS}ms
write: { max_delay: 100ms }
devices:${pymodbusDevicesYaml(line)}${rtuBusDevicesYaml(line)}`;
    const lifecycle = new Lifecycle(log);
    let running: RunningCollector;
    try {
      running = await startCollector({
        gateway: parseGatewayConfig(text, 'gw.yaml'),
        config: { databaseUrl: database().url, dbSchema: database().schema, dataDir: dir, collector: { metricsPort: 0 } },
        log,
        lifecycle,
        metricsHost: '127.0.0.1',
      });
      const { db } = database();
      const rows = await waitFor('a reading from each live unit', async () => {
        const found = await db.selectFrom('temperature_raw').select(['loc_id', 'temperature', 'humidity', 'pcv_temperature']).distinctOn('loc_id').orderBy('loc_id').execute();
        return found.length === 4 ? found : undefined;
      });
      expect(rows).toEqual([...PYMODBUS_EXPECTED_ROWS, { loc_id: 'PY-05', temperature: 21.5, humidity: 48, pcv_temperature: 19.25 }]);
      // The refused span was split for good: the plan now reads input 0 and input 3 apart.
      expect(running.pollers.find((poller) => poller.device.id === 'py-gap')?.plan.map((request) => `${request.table}:${request.address}+${request.length}`)).toEqual([
        'input:0+1',
        'input:3+1',
        'holding:10+2',
      ]);
      // Ten rounds of the live units: the dead one timed out 3 times, then only its breaker's probes.
      const counts = await waitFor('ten ok polls of every live unit', async () => {
        const polls = await pollCounts(running.metrics);
        return ['py-1', 'py-2', 'py-3', 'py-gap'].every((device) => (polls.get(`${device}/ok`) ?? 0) >= 10) ? polls : undefined;
      });
      const deadTimeouts = counts.get('py-dead/timeout') ?? 0;
      expect(deadTimeouts).toBeGreaterThanOrEqual(3);
      expect(deadTimeouts).toBeLessThanOrEqual(5);
      expect(counts.get('py-dead/ok')).toBeUndefined();
      // No live poll was skipped for want of the line: the dead unit's timeouts did not hold them back.
      const skipped = await running.metrics.pollsSkipped.get();
      expect(skipped.values.filter((value) => value.labels.device !== 'py-dead' && value.value > 0)).toEqual([]);
    } finally {
      await lifecycle.shutdown('test done');
    }
  });
});
