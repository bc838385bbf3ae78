import { TcpProxy } from './modbus-tcp-proxy.js';

/**
 * A Modbus TCP forwarder in front of one device port that counts the read responses it hands to
 * its clients, per unit id: what a third-party peer "served". `pause()` withholds responses
 * (dropped, not counted, as if the device went quiet), so a test can make sure every counted
 * response has been read by the collector before it kills it.
 */
export class ModbusResponseCounter {
  readonly served = new Map<number, number>();
  #paused = false;
  #proxy: TcpProxy | undefined;
  port = 0;

  private constructor() {}

  static async start(target: { host: string; port: number }): Promise<ModbusResponseCounter> {
    const counter = new ModbusResponseCounter();
    counter.#proxy = await TcpProxy.start(target, () => {
      let pending = Buffer.alloc(0);
      return {
        response: (chunk, send) => {
          pending = Buffer.concat([pending, chunk]);
          // MBAP header: transaction id, protocol id, length (of unit id + PDU), unit id; then the function code.
          while (pending.length >= 8 && pending.length >= 6 + pending.readUInt16BE(4)) {
            const frame = pending.subarray(0, 6 + pending.readUInt16BE(4));
            pending = pending.subarray(frame.length);
            if (counter.#paused || !send(frame)) continue;
            const unit = frame[6] ?? 0;
            const fn = frame[7] ?? 0;
            if (fn === 3 || fn === 4) counter.served.set(unit, (counter.served.get(unit) ?? 0) + 1);
          }
        },
      };
    });
    counter.port = counter.#proxy.port;
    return counter;
  }

  total(): number {
    let sum = 0;
    for (const count of this.served.values()) sum += count;
    return sum;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
  }

  async stop(): Promise<void> {
    await this.#proxy?.stop();
  }
}
