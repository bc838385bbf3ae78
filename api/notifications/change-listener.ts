import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';

/** The channel the revision trigger notifies at each writing transaction's commit (migration 0006); the payload is the schema. */
export const CHANGES_CHANNEL = 'plant_climate_changes';
const RECONNECT_MS = 1_000;

export type WaitOutcome = 'notified' | 'timeout' | 'aborted' | 'closed';

/**
 * One LISTEN connection per API process, fanned out to every waiting long-poll through an
 * EventEmitter: a thousand waiting consumers cost one database session, not a thousand. Opened at
 * the first wait, then kept. A lost connection is reopened (after a second, again and again),
 * and every waiter is woken both when it is lost and when it is back, so that they re-read
 * the feed instead of trusting a channel that may have missed a commit.
 */
export class ChangeListener {
  readonly #events = new EventEmitter();
  readonly #connection: pg.ClientConfig;
  readonly #schema: string;
  readonly #log: FastifyBaseLogger;
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  #generation = 0;

  constructor(options: { connection: pg.ClientConfig; schema: string; log: FastifyBaseLogger }) {
    this.#connection = options.connection;
    this.#schema = options.schema;
    this.#log = options.log;
    this.#events.setMaxListeners(0);
  }

  /** Grows at every notification and every reconnect: read it before a feed read, pass it to `wait`. */
  get generation(): number {
    return this.#generation;
  }

  /** Long-polls waiting now. */
  get waiters(): number {
    return this.#events.listenerCount('wake');
  }

  /** Whether the LISTEN session is up (while it is not, waiters re-check every second). */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  #wake(): void {
    this.#generation += 1;
    this.#events.emit('wake');
  }

  #ensure(): void {
    if (this.#closed || this.#client || this.#connecting || this.#retry) return;
    this.#connecting = this.#connect().finally(() => {
      this.#connecting = undefined;
    });
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ ...this.#connection, application_name: 'api change listener' });
    client.on('notification', (message) => {
      if (message.payload === this.#schema) this.#wake();
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      if (this.#closed) {
        await client.end();
        return;
      }
      this.#client = client;
      this.#log.debug('change listener connected');
      // A commit may have come while no one listened.
      this.#wake();
    } catch (error) {
      this.#log.warn({ err: error }, 'change listener could not connect; long-polls re-check every second until it does');
      client.removeAllListeners('end');
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    }
  }

  #lost(client: pg.Client, error: Error | undefined): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    if (!this.#closed) this.#log.warn({ err: error }, 'change listener lost its connection; reconnecting');
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    this.#wake();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#ensure();
    }, RECONNECT_MS);
    this.#retry.unref();
  }

  /**
   * Resolves at the first notification after `since` (at once if one came already), after `ms`,
   * when `signal` aborts (the client went away: the waiter is removed at once) or when the
   * listener closes (server shutdown).
   */
  wait(options: { ms: number; since: number; signal: AbortSignal }): Promise<WaitOutcome> {
    if (this.#closed) return Promise.resolve('closed');
    if (options.signal.aborted) return Promise.resolve('aborted');
    this.#ensure();
    if (this.#generation !== options.since) return Promise.resolve('notified');
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        this.#events.off('wake', onWake);
        this.#events.off('close', onClose);
        options.signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onWake = () => finish('notified');
      const onClose = () => finish('closed');
      const onAbort = () => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), options.ms);
      this.#events.on('wake', onWake);
      this.#events.on('close', onClose);
      options.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ends every waiter (they answer with what they have) and the LISTEN session. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#events.emit('close');
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
