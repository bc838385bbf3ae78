import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedPlant, silenceMs } from '../collectors/index.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { waitFor } from './support/modbus-processes.js';
import { withTestCollector } from './support/collector-in-process.js';

const TURNAROUND_MS = 25;
const BAUD = 19200;

/** A forwarder that notes, on the monotonic clock, each chunk going to the device server and back. */
class RecordingProxy {
  readonly events: { at: number; direction: 'request' | 'response'; bytes: number }[] = [];
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  port = 0;

  constructor(target: number) {
    this.#server = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (data: Buffer) => {
        this.events.push({ at: performance.now(), direction: 'request', bytes: data.length });
        upstream.write(data);
      });
      upstream.on('data', (data: Buffer) => {
        this.events.push({ at: performance.now(), direction: 'response', bytes: data.length });
        client.write(data);
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('an RTU line', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let plant: SimulatedPlant;
  let proxy: RecordingProxy;
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-pacing-'));
    plant = await SimulatedPlant.start({ host: '127.0.0.1', port: 0, devices: 4, unitsPerPort: 4, faults: [], log, transport: 'rtu-over-tcp', baudRate: BAUD });
    proxy = new RecordingProxy(plant.ports[0] ?? 0);
    await proxy.start();
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
      waitFor('40 answered requests', () => proxy.events.filter((event) => event.direction === 'response').length >= 40),
    );
    const events = proxy.events.slice(0, proxy.events.findLastIndex((event) => event.direction === 'response') + 1);
    // Request, answer, request, answer...: never a second request while one is unanswered.
    expect(events.map((event) => (event.direction === 'request' ? 'q' : 'r')).join('')).toMatch(/^(qr)+$/);
    const gaps: number[] = [];
    for (let i = 2; i < events.length; i += 2) gaps.push((events[i]?.at ?? 0) - (events[i - 1]?.at ?? 0));
    // The collector sees each answer no earlier than the proxy does, so these gaps are lower bounds.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(TURNAROUND_MS + silenceMs(plant.serial) - 1);
  });
});
