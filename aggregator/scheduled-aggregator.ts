import type { Kysely } from 'kysely';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { createRawPartitionsAhead, rawPartitionStatus, type Database } from '../db/index.js';
import { readState, recordRun } from './aggregator-state.js';
import { aggregateDirtyHours, countDirtyHours, newestAggregatedHour, type DirtyHourRunTotals } from './dirty-hour-run.js';
import type { AggregatorMetrics } from './metrics.js';

const HOUR_MS = 3_600_000;

/** The time source of runs; tests inject one to drive hours, late data and downtime. */
export type Clock = () => Date;

export interface ScheduledAggregatorOptions {
  readonly db: Kysely<Database>;
  readonly timezone: string;
  readonly log: Logger;
  readonly metrics?: AggregatorMetrics | undefined;
  readonly clock?: Clock | undefined;
  /** Dirty hours per transaction (default 500). */
  readonly batchSize?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface RunReport extends DirtyHourRunTotals {
  readonly completeBefore: Date;
  /** Marks left after the run, the open hour's included. */
  readonly dirtyHoursLeft: number;
  readonly milliseconds: number;
}

/**
 * One aggregation run = every complete dirty hour, whenever it was marked: there is no notion of
 * "the last hour", so a run after downtime catches up on everything missed, and late readings
 * for old hours are just more dirty hours. Runs of one process never overlap: a tick that finds
 * a run in progress is skipped (the running one, or the next, takes its hours).
 */
export class ScheduledAggregator {
  readonly #options: ScheduledAggregatorOptions;
  readonly #clock: Clock;
  #running: Promise<RunReport> | undefined;
  #frozenLateSeen = 0;

  constructor(options: ScheduledAggregatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? (() => new Date());
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  /** Resolves when no run is in progress (a failing run counts as finished). */
  async idle(): Promise<void> {
    await this.#running?.catch(() => undefined);
  }

  /** Runs now; `undefined` when a run of this process is already in progress. Throws when the run fails. */
  async runOnce(reason: string): Promise<RunReport | undefined> {
    if (this.#running) {
      this.#options.log.info({ reason }, 'aggregation run skipped: the previous run is still in progress');
      return undefined;
    }
    this.#running = this.#run(reason);
    try {
      return await this.#running;
    } finally {
      this.#running = undefined;
    }
  }

  /**
   * Creates the raw table's day partitions ahead (never left to the write path) and exports how
   * far they reach and what waits in the default partition. A failure here is logged and does
   * not stop the run: a week of partitions is ready ahead, and the gauges tell when it runs out.
   */
  async #maintainRawPartitions(now: Date): Promise<void> {
    const { db, log, metrics } = this.#options;
    try {
      const created = await createRawPartitionsAhead(db, now);
      if (created.length > 0) log.info({ partitions: created }, `created ${created.length} raw partition(s) ahead`);
      const status = await rawPartitionStatus(db);
      metrics?.rawReadingsOutsidePartitions.set(status.readingsOutside);
      if (status.coveredUntil) metrics?.rawPartitionsAhead.set((status.coveredUntil.getTime() - now.getTime()) / 1000);
      // Info, not warn: the same readings are there every hour until someone acts, and the
      // gauge's alert (RawReadingsOutsidePartitions) is the loud channel.
      if (status.readingsOutside > 0) {
        log.info(
          { readings: status.readingsOutside },
          `${status.readingsOutside} raw reading(s) are dated outside every day partition (temperature_raw_default): a transmitter clock is probably wrong`,
        );
      }
    } catch (error) {
      log.error({ err: error }, 'raw partition maintenance failed; aggregation goes on');
    }
  }

  async #run(reason: string): Promise<RunReport> {
    const { db, log, metrics } = this.#options;
    const started = performance.now();
    const stopTimer = metrics?.runDuration.startTimer();
    const now = this.#clock();
    const completeBefore = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS);
    try {
      await this.#maintainRawPartitions(now);
      const totals = await aggregateDirtyHours(db, {
        timezone: this.#options.timezone,
        completeBefore,
        batchSize: this.#options.batchSize ?? 500,
        signal: this.#options.signal,
        log,
      });
      await recordRun(db, now);
      const dirtyHoursLeft = await countDirtyHours(db);
      // Complete hours still marked: held by uncommitted writers, or arrived during the run.
      const waiting = await countDirtyHours(db, completeBefore);
      const newest = await newestAggregatedHour(db, completeBefore);
      const state = await readState(db);
      if (metrics) {
        metrics.hours.inc({ outcome: 'written' }, totals.written);
        metrics.hours.inc({ outcome: 'unchanged' }, totals.unchanged);
        metrics.hours.inc({ outcome: 'removed' }, totals.removed);
        metrics.rawRowsScanned.inc(totals.rawRows);
        metrics.dirtyHours.set(waiting);
        if (newest) metrics.lag.set((now.getTime() - (newest.getTime() + HOUR_MS)) / 1000);
        metrics.lastSuccess.set(now.getTime() / 1000);
        if (state.lastVerifyAt) metrics.lastVerify.set(state.lastVerifyAt.getTime() / 1000);
        // Counted by the database for every writer (migration 0003); the counter follows the
        // total, so it starts at the total when this process starts (rate() ignores that jump).
        metrics.frozenLateReadings.inc(Math.max(0, state.frozenLateReadings - this.#frozenLateSeen));
        this.#frozenLateSeen = Math.max(this.#frozenLateSeen, state.frozenLateReadings);
      }
      const report: RunReport = { ...totals, completeBefore, dirtyHoursLeft, milliseconds: performance.now() - started };
      log.info(
        {
          reason,
          completeBefore: completeBefore.toISOString(),
          hours: totals.claimed,
          written: totals.written,
          unchanged: totals.unchanged,
          removed: totals.removed,
          rawRows: totals.rawRows,
          batches: totals.batches,
          dirtyHoursLeft,
          ms: Math.round(report.milliseconds),
        },
        'aggregation run finished',
      );
      return report;
    } catch (error) {
      metrics?.failures.inc();
      throw error;
    } finally {
      stopTimer?.();
    }
  }
}

export interface Schedule {
  stop(): Promise<void>;
}

/**
 * Runs the aggregator on `expression` (node-cron, in `timezone`) and once at once, to catch up
 * on what was missed while the process was down. A failed run is logged and counted; the next
 * tick retries, since every unfinished hour is still marked.
 */
export function startSchedule(aggregator: ScheduledAggregator, options: { cron: string; timezone: string; log: Logger }): Schedule {
  const tick = (reason: string) =>
    aggregator.runOnce(reason).catch((error: unknown) => {
      options.log.error({ err: error, reason }, 'aggregation run failed');
    });
  const task: ScheduledTask = cron.schedule(options.cron, () => tick('schedule'), {
    name: 'plant-aggregator',
    timezone: options.timezone,
    noOverlap: true,
  });
  const catchUp = tick('catch-up on start');
  return {
    async stop() {
      await task.stop();
      await task.destroy();
      await catchUp;
      // Let a run in progress finish its batch: its transaction commits or rolls back whole.
      await aggregator.idle();
    },
  };
}
