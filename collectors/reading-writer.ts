import { setImmediate as yieldToEventLoop, setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../runtime/logger.js';
import type { CollectorMetrics } from './collector-metrics.js';
import type { Reading } from './reading.js';
import type { JournalSegment, ReadingJournal } from './reading-journal.js';
import { isDatabaseUnreachable } from './database-errors.js';
import { appendDeadLetters, deadLetter, type DeadLetter } from './dead-letters.js';

/** Stores readings of one gateway; returns how many were new (raw-table-writer's writeReadings). */
export type ReadingSink = (gateway: string, readings: readonly Reading[], options: { readonly mayRepeat: boolean; readonly signal?: AbortSignal }) => Promise<number>;

export interface ReadingWriterOptions {
  readonly gateway: string;
  readonly sink: ReadingSink;
  /** Whether the database answers at all (a cheap probe while it is unreachable). */
  readonly probe: () => Promise<boolean>;
  readonly journal: ReadingJournal;
  readonly metrics: CollectorMetrics;
  readonly log: Logger;
  readonly batchSize: number;
  readonly maxDelayMs: number;
  /** Runs before the first write of each database connection streak (the schema check). */
  readonly beforeFirstWrite?: () => Promise<void>;
}

interface Pending {
  readonly reading: Reading;
  /** undefined: the journal could not take it (full disk): memory is its only copy. */
  readonly segment: JournalSegment | undefined;
}

/**
 * Stores readings; when the database refuses them (not when it is unreachable: that throws),
 * bisects down to the rows it refuses and adds each, with its error, to `letters`.
 */
export async function storeOrSetAside(
  sink: ReadingSink,
  gateway: string,
  readings: readonly Reading[],
  mayRepeat: boolean,
  letters: DeadLetter[],
  onStored: (readings: number, seconds: number) => void = () => {},
  signal?: AbortSignal,
): Promise<void> {
  if (readings.length === 0) return;
  const started = process.hrtime.bigint();
  try {
    await sink(gateway, readings, { mayRepeat, signal });
    onStored(readings.length, Number(process.hrtime.bigint() - started) / 1e9);
    return;
  } catch (error) {
    if (isDatabaseUnreachable(error)) throw error;
    if (readings.length === 1) {
      letters.push(deadLetter(gateway, readings[0], error));
      return;
    }
  }
  const half = Math.ceil(readings.length / 2);
  await storeOrSetAside(sink, gateway, readings.slice(0, half), mayRepeat, letters, onStored, signal);
  await storeOrSetAside(sink, gateway, readings.slice(half), mayRepeat, letters, onStored, signal);
}

const REPLAY_RETRY_MIN_MS = 250;
const REPLAY_RETRY_MAX_MS = 10_000;
/** Replayed readings per database statement, and per slice of work between event-loop turns. */
const REPLAY_SLICE = 5_000;

/**
 * Every reading goes to the journal first, then to the database in batches (by size and age).
 * A batch the database cannot be reached for is not retried from memory: the journal's live
 * segments turn into replay segments, and a replay loop reads them back from disk, in bounded
 * slices, once the database answers again, while new readings already go straight to it. A batch
 * the database refuses is bisected: the good rows are stored, each bad row goes to the
 * dead-letter file with its error, and the next batch follows at once.
 */
export class ReadingWriter {
  readonly #options: ReadingWriterOptions;
  readonly #log: Logger;
  readonly #deadLetterDir: string;
  #pending: Pending[] = [];
  /** Readings added in this turn of the event loop, journaled together at its end. */
  #arriving: Reading[] = [];
  #pendingSince = 0;
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** Whether new readings go to the database from memory (else only to the journal). */
  #live = true;
  /** Bumped when an outage abandons the batches in memory, so queued flushes of them stand down. */
  #generation = 0;
  #replaying: Promise<void> | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  #schemaChecked = false;
  /** Aborted when a stop's budget is spent: writes still in flight are abandoned to the journal. */
  readonly #stopping = new AbortController();

  constructor(options: ReadingWriterOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#deadLetterDir = options.journal.dir;
    this.#timer = setInterval(() => this.#flushIfOld(), Math.max(10, Math.floor(options.maxDelayMs / 4)));
    this.#timer.unref();
    if (options.journal.stats().readings > 0) this.#startReplay();
  }

  /**
   * Takes a reading. It reaches the journal (the page cache: a SIGKILL no longer loses it) before
   * the event loop does anything else, in one write with the readings that arrive in the same
   * turn, so that a burst costs one system call rather than one per reading.
   */
  add(reading: Reading): void {
    this.#arriving.push(reading);
    if (this.#arriving.length > 1) return;
    queueMicrotask(() => this.#journalArrived());
  }

  #journalArrived(): void {
    const readings = this.#arriving;
    if (readings.length === 0) return;
    this.#arriving = [];
    const segment = this.#options.journal.append(this.#options.gateway, readings, this.#live ? 'live' : 'replay');
    if (!this.#live) {
      if (!segment) this.#dropped(readings.length, 'the database is unreachable and the journal cannot take them');
      else this.#startReplay();
      return;
    }
    if (this.#pending.length === 0) this.#pendingSince = performance.now();
    for (const reading of readings) this.#pending.push({ reading, segment });
    if (this.#pending.length >= this.#options.batchSize) void this.flush();
  }

  #dropped(readings: number, why: string): void {
    this.#options.metrics.spoolDropped.inc(readings);
    this.#log.error({ readings }, `readings lost: ${why}`);
  }

  #flushIfOld(): void {
    if (this.#pending.length > 0 && performance.now() - this.#pendingSince >= this.#options.maxDelayMs) void this.flush();
  }

  /** Writes what is pending; resolves when it is stored, dead-lettered or left to the replay. */
  flush(): Promise<void> {
    this.#journalArrived();
    const batch = this.#pending;
    if (batch.length === 0) return this.#flushing;
    this.#pending = [];
    const generation = this.#generation;
    this.#flushing = this.#flushing.then(() => this.#write(batch, generation)).catch((error: unknown) => this.#log.error({ err: error }, 'batch write crashed; its readings stay in the journal'));
    return this.#flushing;
  }

  async #write(batch: Pending[], generation: number): Promise<void> {
    if (generation !== this.#generation) return;
    try {
      await this.#store(this.#options.gateway, batch.map((entry) => entry.reading), false);
    } catch (error) {
      this.#goDown(error, batch);
      return;
    }
    const bySegment = new Map<JournalSegment, number>();
    for (const { segment } of batch) if (segment) bySegment.set(segment, (bySegment.get(segment) ?? 0) + 1);
    for (const [segment, count] of bySegment) this.#options.journal.settle(segment, count);
  }

  /** The database is unreachable: leave every live reading to the journal's replay. */
  #goDown(error: unknown, batch: readonly Pending[]): void {
    const orphans = [...batch, ...this.#pending].filter((entry) => entry.segment === undefined);
    if (this.#live) this.#log.warn({ err: error }, 'database unreachable: readings stay in the journal on disk until it is back (spooling to disk)');
    this.#live = false;
    this.#generation += 1;
    this.#pending = [];
    this.#options.journal.abandonLive();
    this.#options.metrics.databaseReachable.set(0);
    // Readings the journal could not take earlier get one more try; memory will not outlive the outage.
    let lost = 0;
    for (const { reading } of orphans) if (!this.#options.journal.append(this.#options.gateway, [reading], 'replay')) lost += 1;
    if (lost > 0) this.#dropped(lost, 'the database is unreachable and the journal cannot take them');
    this.#schemaChecked = false;
    this.#startReplay();
  }

  /**
   * Stores readings, bisecting a refused batch down to its bad rows, which go to the dead-letter
   * file. Throws only when the database is unreachable (nothing of the batch is then settled;
   * a repeat is harmless, the unique key keeps one row per reading).
   */
  async #store(gateway: string, readings: readonly Reading[], mayRepeat: boolean): Promise<void> {
    if (!this.#schemaChecked && this.#options.beforeFirstWrite) {
      await this.#options.beforeFirstWrite();
      this.#schemaChecked = true;
    }
    const letters: DeadLetter[] = [];
    await storeOrSetAside(this.#options.sink, gateway, readings, mayRepeat, letters, (count, seconds) => {
      this.#options.metrics.dbWriteDuration.observe(seconds);
      this.#options.metrics.readingsWritten.inc(count);
    }, this.#stopping.signal);
    if (letters.length === 0) return;
    appendDeadLetters(this.#deadLetterDir, letters);
    this.#options.metrics.deadLetters.inc(letters.length);
    this.#log.error(
      { readings: letters.length, file: this.#deadLetterDir, first: { loc_id: letters[0].reading.locId, error: letters[0].error, sqlstate: letters[0].sqlstate } },
      'the database refused readings: written to the dead-letter file (collector replay-dead-letters retries them once the cause is fixed)',
    );
  }

  #startReplay(): void {
    if (this.#replaying || this.#closed) return;
    this.#replaying = this.#replay().finally(() => {
      this.#replaying = undefined;
    });
  }

  async #replay(): Promise<void> {
    const { journal } = this.#options;
    let retryMs = REPLAY_RETRY_MIN_MS;
    while (!this.#closed) {
      let segment: JournalSegment | undefined;
      try {
        if (!this.#live) {
          if (!(await this.#options.probe())) throw new Error('database unreachable');
          this.#live = true;
          this.#options.metrics.databaseReachable.set(1);
          this.#log.info({ journaled: journal.stats().readings }, 'database reachable again: replaying the journal');
        }
        segment = journal.nextReplay();
        if (!segment) return;
        await this.#replaySegment(segment);
        if (this.#closed) {
          journal.abortReplay(segment);
          return;
        }
        journal.finishReplay(segment);
        retryMs = REPLAY_RETRY_MIN_MS;
      } catch (error) {
        if (segment) journal.abortReplay(segment);
        if (this.#live && isDatabaseUnreachable(error)) this.#goDown(error, []);
        if (!isDatabaseUnreachable(error)) this.#log.error({ err: error }, 'journal replay failed; retrying');
        else this.#log.debug({ err: error, retryMs }, 'journal replay: database unreachable; retrying');
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          void delay(retryMs * (0.75 + Math.random() / 2), undefined, { ref: false }).then(resolve);
        });
        this.#wake = undefined;
        retryMs = Math.min(REPLAY_RETRY_MAX_MS, retryMs * 2);
      }
    }
  }

  /** Writes a replay segment in slices, each its own statement, yielding to polling in between. */
  async #replaySegment(segment: JournalSegment): Promise<void> {
    await this.#options.journal.read(segment, async (records) => {
      for (let start = 0; start < records.length && !this.#closed; start += REPLAY_SLICE) {
        const byGateway = new Map<string, Reading[]>();
        for (const record of records.slice(start, start + REPLAY_SLICE)) {
          // A journal left by a gateway since renamed keeps its readings' original gateway_id.
          let list = byGateway.get(record.gateway);
          if (!list) byGateway.set(record.gateway, (list = []));
          list.push(record.reading);
        }
        for (const [gateway, readings] of byGateway) await this.#store(gateway, readings, true);
        await yieldToEventLoop();
      }
    });
  }

  /**
   * Stops: tries to store what is pending within `budgetMs`; whatever is not stored by then is
   * in the journal and the next start replays it, so stopping never waits for a slow database.
   */
  async close(budgetMs: number): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const deadline = performance.now() + budgetMs;
    this.#closed = true;
    this.#wake?.();
    const flushed = this.flush();
    await Promise.race([Promise.all([flushed, this.#replaying]), delay(budgetMs, undefined, { ref: false })]);
    this.#stopping.abort();
    await Promise.race([Promise.all([flushed, this.#replaying]), delay(Math.max(0, deadline - performance.now()) + 100, undefined, { ref: false })]);
    await this.#options.journal.close();
  }
}
