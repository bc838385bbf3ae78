import net from 'node:net';

/**
 * A Modbus TCP forwarder in front of one device port that counts the read responses it hands to
 * its clients, per unit id: what a third-party peer "served". `pause()` withholds responses
 * (dropped, not counted, as if the device went quiet), so a test can make sure every counted
 * response has been read by the collector before it kills it.
 */
export class ModbusResponseCounter {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly served = new Map<number, number>();
  #paused = false;
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          this.#sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      let pending = Buffer.alloc(0);
      upstream.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        // MBAP header: transaction id, protocol id, length (of unit id + PDU), unit id; then the function code.
        while (pending.length >= 8 && pending.length >= 6 + pending.readUInt16BE(4)) {
          const frame = pending.subarray(0, 6 + pending.readUInt16BE(4));
          pending = pending.subarray(frame.length);
          if (this.#paused || client.destroyed) continue;
          const unit = frame[6] ?? 0;
          const fn = frame[7] ?? 0;
          if (fn === 3 || fn === 4) this.served.set(unit, (this.served.get(unit) ?? 0) + 1);
          client.write(frame);
        }
      });
    });
  }

  static async start(target: { host: string; port: number }): Promise<ModbusResponseCounter> {
    const counter = new ModbusResponseCounter(target);
    await new Promise<void>((resolve) => counter.#server.listen(0, '127.0.0.1', resolve));
    counter.port = (counter.#server.address() as net.AddressInfo).port;
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
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
