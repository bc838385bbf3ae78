import { createRequire } from 'node:module';
import net from 'node:net';
import type { SerialFormat } from './gateway-types.js';
import { characterMs, silenceMs } from './line-budget.js';

const crc16 = createRequire(import.meta.url)('modbus-serial/utils/crc16') as (buffer: Buffer) => number;

/** What a simulated unit answers: register words, a Modbus exception code, or nothing (a dead unit). */
export type UnitAnswer = { readonly words: readonly number[] } | { readonly exception: number } | { readonly silent: true };

/**
 * Reads `length` registers of a unit: `answer` is called with the outcome, and `delayMs` adds a
 * unit's own slowness (the `slow` fault).
 */
export type UnitReader = (unitId: number, table: 'input' | 'holding', address: number, length: number, answer: (outcome: UnitAnswer, delayMs?: number) => void) => void;

function withCrc(bytes: readonly number[]): Buffer {
  const body = Buffer.from(bytes);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16(body));
  return Buffer.concat([body, crc]);
}

/** Every request the simulator answers (FC1-6) is 8 bytes long on the wire. */
const REQUEST_BYTES = 8;

/**
 * A simulated serial device server in TCP server mode: raw RTU frames over TCP, in front of an
 * RS-485 bus of `serial`'s speed. The bus carries one frame at a time for every connection: a
 * request waits for the bus, and its answer leaves once the request and the answer would have
 * crossed the wire with their silences, so the collector meets the line's real capacity. Frames
 * with a bad CRC are dropped, as a unit on a bus drops them.
 */
export class SimulatedRtuLine {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #charMs: number;
  readonly #silenceMs: number;
  /** performance.now() at which the bus is next free. */
  #busFreeAt = 0;

  constructor(serial: SerialFormat, read: UnitReader) {
    this.#charMs = characterMs(serial);
    this.#silenceMs = silenceMs(serial);
    this.#server = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {});
      let pending = Buffer.alloc(0);
      socket.on('data', (data: Buffer) => {
        pending = Buffer.concat([pending, data]);
        while (pending.length >= REQUEST_BYTES) {
          const request = pending.subarray(0, REQUEST_BYTES);
          pending = pending.subarray(REQUEST_BYTES);
          this.#handle(socket, request, read);
        }
      });
    });
  }

  get server(): net.Server {
    return this.#server;
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, Math.max(0, ms));
    this.#timers.add(timer);
  }

  #handle(socket: net.Socket, request: Buffer, read: UnitReader): void {
    if (request.readUInt16LE(6) !== crc16(request.subarray(0, 6))) return;
    const unitId = request[0];
    const fc = request[1];
    const start = Math.max(performance.now(), this.#busFreeAt);
    const requestDone = start + REQUEST_BYTES * this.#charMs + this.#silenceMs;
    this.#busFreeAt = requestDone;
    const respond = (frame: Buffer | undefined, delayMs = 0) => {
      if (!frame) return;
      // The answer takes the bus after the unit's own delay; later requests queue behind it.
      const leaves = Math.max(requestDone + delayMs, this.#busFreeAt);
      const done = leaves + frame.length * this.#charMs;
      this.#busFreeAt = done + this.#silenceMs;
      this.#later(done - performance.now(), () => {
        if (!socket.destroyed) socket.write(frame);
      });
    };
    if (fc !== 3 && fc !== 4) {
      respond(withCrc([unitId, fc | 0x80, 1]));
      return;
    }
    read(unitId, fc === 3 ? 'holding' : 'input', request.readUInt16BE(2), request.readUInt16BE(4), (outcome, delayMs) => {
      if ('silent' in outcome) return;
      if ('exception' in outcome) {
        respond(withCrc([unitId, fc | 0x80, outcome.exception]), delayMs);
        return;
      }
      const bytes = outcome.words.flatMap((word) => [(word >> 8) & 0xff, word & 0xff]);
      respond(withCrc([unitId, fc, bytes.length, ...bytes]), delayMs);
    });
  }

  /** Closes every connection (the `drop` fault). */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.dropConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
