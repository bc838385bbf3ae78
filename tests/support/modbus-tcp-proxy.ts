import net from 'node:net';

/**
 * What a forwarder does with one connection's traffic, made afresh for each connection (so a tap
 * can keep that connection's partial frames). Without taps the bytes are piped through untouched.
 */
export interface ProxyTaps {
  /** Sees each chunk the client sends, before it goes on to the target. */
  readonly request?: (chunk: Buffer) => void;
  /**
   * Takes each chunk the target answers and passes to `send` what the client is to get; `send`
   * says whether the client was still there to take it.
   */
  readonly response?: (chunk: Buffer, send: (data: Buffer) => boolean) => void;
}

/**
 * A TCP forwarder a test controls: `cut()` drops every open connection and refuses new ones (as
 * a database host going away looks to its clients), `restore()` lets connections through again.
 * Taps (optional) watch or rewrite what passes.
 */
export class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #cut = false;
  port = 0;

  private constructor(target: { host: string; port: number }, taps: () => ProxyTaps) {
    this.#server = net.createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
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
      const { request, response } = taps();
      if (request) {
        client.on('data', (chunk: Buffer) => {
          request(chunk);
          upstream.write(chunk);
        });
      } else {
        client.pipe(upstream);
      }
      if (response) {
        const send = (data: Buffer) => {
          if (client.destroyed) return false;
          client.write(data);
          return true;
        };
        upstream.on('data', (chunk: Buffer) => response(chunk, send));
      } else {
        upstream.pipe(client);
      }
    });
  }

  static async start(target: { host: string; port: number }, taps: () => ProxyTaps = () => ({})): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, taps);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.#server.address() as net.AddressInfo).port;
    return proxy;
  }

  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** The same postgres:// URL, pointed at the proxy. */
export function throughProxy(url: string, proxy: TcpProxy): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return parsed.toString();
}
