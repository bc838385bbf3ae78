import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedPlant, silenceMs } from '../collectors/index.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { waitFor } from './support/modbus-processes.js';
import { withTestCollector } from './support/collector-in-process.js';
import { TcpProxy } from './support/modbus-tcp-proxy.js';

const TURNAROUND_MS = 25;
const BAUD = 19200;

describe('an RTU line', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let plant: SimulatedPlant;
  let proxy: TcpProxy;
  /** Each chunk going to the device server and back, on the monotonic clock. */
  const events: { at: number; direction: 'request' | 'response' }[] = [];
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-pacing-'));
    plant = await SimulatedPlant.start({ host: '127.0.0.1', port: 0, devices: 4, unitsPerPort: 4, faults: [], log, transport: 'rtu-over-tcp', baudRate: BAUD });
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: plant.ports[0] ?? 0 }, () => ({
      request: () => events.push({ at: performance.now(), direction: 'request' }),
      response: (chunk, send) => {
        events.push({ at: performance.now(), direction: 'response' });
        send(chunk);
      },
    }));
  });

  afterAll(async () => {
    await proxy.stop();
    await plant.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('carries one request at a time for all its units, each after the silence and turnaround that follow an answer', async () => {
    const text = plant
      .gatewayConfig({ gateway: 'gw-pacing', host: '127.0.0.1', pollInterval: '300ms', timeout: '500ms' })
      .replaceAll(`port: ${plant.ports[0]}`, `port: ${proxy.port}\n    turnaround: ${TURNAROUND_MS}ms`);
    await withTestCollector({ text: `${text}write: { max_delay: 100ms }\n`, database: database(), dataDir: dir, log }, () =>
      waitFor('40 answered requests', () => events.filter((event) => event.direction === 'response').length >= 40),
    );
    const answered = events.slice(0, events.findLastIndex((event) => event.direction === 'response') + 1);
    // Request, answer, request, answer...: never a second request while one is unanswered.
    expect(answered.map((event) => (event.direction === 'request' ? 'q' : 'r')).join('')).toMatch(/^(qr)+$/);
    const gaps: number[] = [];
    for (let i = 2; i < answered.length; i += 2) gaps.push((answered[i]?.at ?? 0) - (answered[i - 1]?.at ?? 0));
    // The collector sees each answer no earlier than the proxy does, so these gaps are lower bounds.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(TURNAROUND_MS + silenceMs(plant.serial) - 1);
  });
});
