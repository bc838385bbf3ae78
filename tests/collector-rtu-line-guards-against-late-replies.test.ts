import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { waitFor } from './support/modbus-processes.js';
import { pollCounts } from './support/rtu-bus.js';
import { withTestCollector } from './support/collector-in-process.js';

const crc16 = createRequire(import.meta.url)('modbus-serial/utils/crc16') as (buffer: Buffer) => number;

function frame(bytes: number[]): Buffer {
  const body = Buffer.from(bytes);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16(body));
  return Buffer.concat([body, crc]);
}

const LIVE_TEMPERATURE = 215; // unit 3's input 0: 21.5 °C
const FORGED_TEMPERATURE = 999; // 99.9 °C, hidden in unit 2's late reply

/**
 * A device server with two units that speaks raw RTU over TCP: unit 3 answers at once; unit 2
 * answers 150 ms late, after the collector's 100 ms timeout, and its reply's data bytes happen to
 * hold a well-formed frame of unit 3 (address 3, function 4, one register, valid CRC). A client
 * that searched for unit 3's next answer behind that stale reply would take 99.9 °C for it.
 */
class LateReplyPeer {
  readonly #server = net.createServer((socket) => this.#serve(socket));
  readonly #sockets = new Set<net.Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  #serve(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 8) {
        const request = pending.subarray(0, 8);
        pending = pending.subarray(8);
        const [unit, fc] = request;
        const count = request.readUInt16BE(4);
        if (unit === 3 && fc === 4 && count === 1) {
          socket.write(frame([3, 4, 2, LIVE_TEMPERATURE >> 8, LIVE_TEMPERATURE & 0xff]));
        } else if (unit === 2 && fc === 4 && count === 4) {
          const forged = [...frame([3, 4, 2, FORGED_TEMPERATURE >> 8, FORGED_TEMPERATURE & 0xff])];
          const late = frame([2, 4, 8, ...forged, 0]);
          // The fault itself (a unit that answers after the master gave up), not a synchronization.
          const timer = setTimeout(() => {
            this.#timers.delete(timer);
            if (!socket.destroyed) socket.write(late);
          }, 150);
          this.#timers.add(timer);
        }
      }
    });
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('an RTU line after a timeout', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  const peer = new LateReplyPeer();
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-late-'));
    await peer.start();
  });

  afterAll(async () => {
    await peer.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('never takes a late reply of one unit for the next unit\'s answer, and counts the stale bytes it drops', async () => {
    const text = `
gateway: gw-late
poll_interval: 500ms
timeout: 100ms
write: { max_delay: 100ms }
devices:
  - id: slow-2
    loc_id: LATE-02
    transport: rtu-over-tcp
    host: 127.0.0.1
    port: ${peer.port}
    baud_rate: 115200
    unit_id: 2
    registers:
      temperature: { table: input, address: 0, type: int16, scale: 0.1 }
      humidity: { table: input, address: 3, type: uint16, scale: 0.1 }
  - id: live-3
    loc_id: LATE-03
    transport: rtu-over-tcp
    host: 127.0.0.1
    port: ${peer.port}
    baud_rate: 115200
    unit_id: 3
    registers:
      temperature: { table: input, address: 0, type: int16, scale: 0.1 }
`;
    await withTestCollector({ text, database: database(), dataDir: dir, log }, async (running) => {
      // Unit 2 times out three times (then its breaker opens); each late reply lands before a read of unit 3.
      await waitFor('three late replies and five reads of unit 3', async () => {
        const polls = await pollCounts(running.metrics);
        return (polls.get('slow-2/timeout') ?? 0) >= 3 && (polls.get('live-3/ok') ?? 0) >= 5;
      });
      const { db } = database();
      const temperatures = await waitFor('unit 3\'s readings stored', async () => {
        const rows = await db.selectFrom('temperature_raw').select('temperature').where('loc_id', '=', 'LATE-03').execute();
        return rows.length >= 5 ? rows.map((row) => row.temperature) : undefined;
      });
      expect(new Set(temperatures)).toEqual(new Set([LIVE_TEMPERATURE / 10]));
      const stale = await running.metrics.lineStaleBytes.get();
      expect(stale.values.find((value) => value.labels.line === `127.0.0.1:${peer.port}`)?.value).toBeGreaterThanOrEqual(2 * 13);
    });
  });
});
