import type pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../runtime/logger.js';
import type { CollectorMetrics } from './collector-metrics.js';
import type { Reading } from './reading.js';
import type { Spool } from './spool.js';
import { writeReadings } from './raw-table-writer.js';

export interface ReadingWriterOptions {
  readonly pool: pg.Pool;
  readonly gateway: string;
  readonly spool: Spool;
  readonly metrics: CollectorMetrics;
  readonly log: Logger;
  readonly batchSize: number;
  readonly maxDelayMs: number;
  readonly timeoutMs: number;
  /** Runs before the first write of each database connection streak (the schema check). */
  readonly beforeFirstWrite?: () => Promise<void>;
}

const REPLAY_RETRY_MIN_MS = 250;
const REPLAY_RETRY_MAX_MS = 10_000;

/**
 * Batches readings by size and age and writes them to temperature_raw; a batch the database does
 * not take goes to the spool. While the spool holds anything, a replay loop retries the database
 * with backoff and replays segments oldest first; new batches keep going straight to the
 * database once it answers again, so fresh readings are not stuck behind a long backlog.
 */
export class ReadingWriter {
  readonly #options: ReadingWriterOptions;
  readonly #log: Logger;
  #pending: Reading[] = [];
  #pendingSince = 0;
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #databaseDown = false;
  #replaying: Promise<void> | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  #schemaChecked = false;

  constructor(options: ReadingWriterOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#timer = setInterval(() => this.#flushIfOld(), Math.max(10, Math.floor(options.maxDelayMs / 4)));
    this.#timer.unref();
    if (!options.spool.empty) this.#startReplay();
  }

  add(reading: Reading): void {
    if (this.#pending.length === 0) this.#pendingSince = Date.now();
    this.#pending.push(reading);
    if (this.#pending.length >= this.#options.batchSize) void this.flush();
  }

  #flushIfOld(): void {
    if (this.#pending.length > 0 && Date.now() - this.#pendingSince >= this.#options.maxDelayMs) void this.flush();
  }

  /** Writes what is pending (to the database, else the spool); resolves when it is kept. */
  flush(): Promise<void> {
    const batch = this.#pending;
    if (batch.length === 0) return this.#flushing;
    this.#pending = [];
    const next = this.#flushing.then(() => this.#write(batch));
    this.#flushing = next.catch((error: unknown) => this.#log.error({ err: error }, 'batch lost'));
    return this.#flushing;
  }

  /** `mayRepeat`: the batch may hold readings already stored (a spool replay). */
  async #toDatabase(readings: readonly Reading[], mayRepeat = false): Promise<void> {
    if (!this.#schemaChecked && this.#options.beforeFirstWrite) {
      await this.#options.beforeFirstWrite();
      this.#schemaChecked = true;
    }
    const started = process.hrtime.bigint();
    await writeReadings(this.#options.pool, this.#options.gateway, readings, this.#options.timeoutMs, { mayRepeat });
    this.#options.metrics.dbWriteDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.#options.metrics.readingsWritten.inc(readings.length);
  }

  async #write(readings: Reading[]): Promise<void> {
    if (!this.#databaseDown) {
      try {
        await this.#toDatabase(readings);
        return;
      } catch (error) {
        this.#databaseDown = true;
        this.#log.warn({ err: error, readings: readings.length }, 'database write failed: spooling to disk until it is back');
      }
    }
    await this.#options.spool.append({ gateway: this.#options.gateway, readings });
    this.#startReplay();
  }

  #startReplay(): void {
    if (this.#replaying || this.#closed) return;
    this.#replaying = this.#replay().finally(() => {
      this.#replaying = undefined;
    });
  }

  /** Whether the database answers; a cheap probe so that an outage does not churn the spool. */
  async #databaseAnswers(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#options.pool.query('SELECT 1'),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('probe timed out')), this.#options.timeoutMs);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async #replay(): Promise<void> {
    const { spool } = this.#options;
    let retryMs = REPLAY_RETRY_MIN_MS;
    while (!this.#closed) {
      try {
        if (this.#databaseDown && !(await this.#databaseAnswers())) throw new Error('database unreachable');
        const segment = await spool.oldest();
        if (!segment) return;
        // Written in slices the size of ordinary batches, so that a large backlog never runs into
        // the write timeout; the segment goes only once every slice is committed.
        const slice = Math.max(this.#options.batchSize, 5_000);
        const byGateway = new Map<string, Reading[]>();
        for (const batch of segment.batches) byGateway.set(batch.gateway, [...(byGateway.get(batch.gateway) ?? []), ...batch.readings]);
        for (const [gateway, rows] of byGateway) {
          for (let start = 0; start < rows.length; start += slice) {
            const part = rows.slice(start, start + slice);
            if (gateway === this.#options.gateway) await this.#toDatabase(part, true);
            // A spool left by a gateway since renamed keeps its readings' original gateway_id.
            else await writeReadings(this.#options.pool, gateway, part, this.#options.timeoutMs, { mayRepeat: true });
          }
        }
        await spool.remove(segment.seq);
        if (this.#databaseDown) this.#log.info('database reachable again: replaying the spool');
        this.#databaseDown = false;
        retryMs = REPLAY_RETRY_MIN_MS;
        this.#log.debug({ batches: segment.batches.length, seq: segment.seq }, 'replayed a spool segment');
      } catch (error) {
        this.#databaseDown = true;
        this.#log.debug({ err: error, retryMs }, 'spool replay failed; retrying');
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          void delay(retryMs * (0.75 + Math.random() / 2), undefined, { ref: false }).then(resolve);
        });
        this.#wake = undefined;
        retryMs = Math.min(REPLAY_RETRY_MAX_MS, retryMs * 2);
      }
    }
  }

  /** Flushes what is pending to the database or the spool and stops the replay loop. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
    this.#closed = true;
    this.#wake?.();
    await this.#replaying;
    await this.#options.spool.close();
  }
}
