import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StreamSlots } from './stream-slots.js';

export interface StreamLimits {
  /** Streams that may hold a pooled connection at once (default: half the pool, at least 1). */
  readonly maxConcurrent?: number;
  /** How long a stream request waits for a slot before a 503 (default 5 s). */
  readonly queueTimeoutMs?: number;
  /** A reader that takes nothing for this long is cut off (default 30 s). */
  readonly stallTimeoutMs?: number;
  /** No stream lasts longer than this, however steadily it is read (default 15 min). */
  readonly deadlineMs?: number;
}

const DEFAULTS = { queueTimeoutMs: 5_000, stallTimeoutMs: 30_000, deadlineMs: 15 * 60_000 } as const;

/**
 * Streamed responses (CSV) that always end and always give their connection back: when the
 * client hangs up, when it stops reading (stall timeout), when the stream runs past its deadline
 * and when the server stops. Each stream holds one of a bounded number of slots, so streams
 * never take the whole pool.
 *
 * The source is an async iterator over a PostgreSQL cursor (or keyset pages); the pooled
 * connection is released by the iterator's `return()`, which runs exactly once whatever ends
 * the stream, and the slot is freed only after it.
 */
export class StreamedReplies {
  readonly #slots: StreamSlots;
  readonly #active = new Set<(reason: string) => void>();
  readonly #stallTimeoutMs: number;
  readonly #deadlineMs: number;

  constructor(poolSize: number, limits: StreamLimits = {}) {
    this.#slots = new StreamSlots(limits.maxConcurrent ?? Math.floor(poolSize / 2), limits.queueTimeoutMs ?? DEFAULTS.queueTimeoutMs);
    this.#stallTimeoutMs = limits.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs;
    this.#deadlineMs = limits.deadlineMs ?? DEFAULTS.deadlineMs;
  }

  /** Streams running or holding a slot (for tests and metrics). */
  get inUse(): number {
    return this.#slots.inUse;
  }

  /**
   * Sends what `open` yields as the body. `open` runs once a slot is held; its first chunk is
   * awaited before the 200 goes out, so a failing query is still answered with a problem document.
   */
  async send(request: FastifyRequest, reply: FastifyReply, contentType: string, open: () => AsyncIterable<string>): Promise<FastifyReply> {
    const hungUp = new AbortController();
    const onHangUp = () => hungUp.abort();
    reply.raw.once('close', onHangUp);
    let release: () => void;
    try {
      release = await this.#slots.acquire(hungUp.signal);
    } finally {
      reply.raw.off('close', onHangUp);
    }
    let iterator: AsyncIterator<string> | undefined;
    let first: IteratorResult<string>;
    try {
      iterator = open()[Symbol.asyncIterator]();
      first = await iterator.next();
    } catch (error) {
      await iterator?.return?.().catch(() => undefined);
      release();
      throw error;
    }
    const source = iterator;

    let finished: Promise<void> | undefined;
    const finish = () => {
      finished ??= Promise.resolve(source.return?.())
        .then(() => undefined, (error: unknown) => request.log.warn({ err: error }, 'closing a stream source failed'))
        .finally(release);
      return finished;
    };
    const cut = (reason: string) => {
      request.log.info({ reason }, 'stream cut off');
      // Destroying the socket tells the client the body is incomplete (no final chunk), and makes
      // Fastify destroy the body stream, which returns the source.
      reply.raw.destroy();
      void finish();
    };
    const stalled = setTimeout(() => cut(`the client read nothing for ${this.#stallTimeoutMs} ms`), this.#stallTimeoutMs);
    const deadline = setTimeout(() => cut(`the stream ran past its ${this.#deadlineMs} ms deadline`), this.#deadlineMs);
    this.#active.add(cut);

    async function* chunks(): AsyncGenerator<string> {
      try {
        for (let next = first; !next.done; next = await source.next()) {
          stalled.refresh();
          yield next.value;
        }
      } finally {
        await finish();
      }
    }
    const body = Readable.from(chunks(), { objectMode: false });
    // A body destroyed before its first read never enters chunks(), so its finally would not run.
    body.once('close', () => {
      clearTimeout(stalled);
      clearTimeout(deadline);
      this.#active.delete(cut);
      void finish();
    });
    return reply.header('content-type', contentType).header('cache-control', 'no-cache').send(body);
  }

  /** Server shutdown: refuses new streams, stops waiting ones and cuts off running ones. */
  stopAll(): void {
    this.#slots.close();
    for (const cut of [...this.#active]) cut('the server is stopping');
  }
}
