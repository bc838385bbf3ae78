import v8 from 'node:v8';
import vm from 'node:vm';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorMetrics, ModbusEndpoint, SimulatedPlant, SIMULATED_PROFILE } from '../collectors/index.js';
import { createLogger } from '../runtime/logger.js';

// modbus-serial keeps the last 256 transactions of a connection, callbacks included. What a settled
// request leaves there must not hold its response, job or promises: at 500 devices per second that
// was 12,800 requests and about 13 MB of heap on a gateway (bench/results/collector.md, "RSS").
const REQUESTS = 300;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

describe('a Modbus endpoint after its requests have settled', () => {
  const log = createLogger('silent');
  let plant: SimulatedPlant;
  let endpoint: ModbusEndpoint;

  beforeAll(async () => {
    plant = await SimulatedPlant.start({ host: '127.0.0.1', port: 0, devices: 1, unitsPerPort: 1, faults: [], log });
  });

  afterAll(async () => {
    endpoint?.close();
    await plant.stop();
  });

  it('keeps none of their responses alive', async () => {
    const device = plant.devices[0];
    endpoint = new ModbusEndpoint({ transport: 'tcp', key: `127.0.0.1:${device.port}`, host: '127.0.0.1', port: device.port }, log, new CollectorMetrics());
    const { table, address } = SIMULATED_PROFILE.temperature;
    // Each response is only ever held through a WeakRef here, made in a frame of its own.
    const readWeakly = async () => new WeakRef(await endpoint.read(device.unit_id, table, address, 2, 1_000, false));
    const responses: WeakRef<object>[] = [];
    for (let i = 0; i < REQUESTS; i += 1) responses.push(await readWeakly());
    // WeakRefs hold their targets until the end of the current job: collect after a turn, twice.
    for (let round = 0; round < 2; round += 1) {
      await nextTurn();
      gc();
    }
    const alive = responses.filter((ref) => ref.deref() !== undefined).length;
    expect(alive, `${alive} of ${REQUESTS} settled responses still reachable`).toBe(0);
  });
});
