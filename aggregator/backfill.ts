import type { Kysely } from 'kysely';
import type { Database } from '../db/index.js';
import { readState } from './aggregator-state.js';
import { applyRollup, compareRange, type RollupCounts } from './hourly-rollup.js';
import { inHourlyTransaction } from './hourly-transaction.js';
import { planDays, type PlantDay } from './plant-days.js';

export interface BackfillOptions {
  readonly timezone: string;
  /** YYYY-MM-DD, inclusive, in `timezone`. */
  readonly start: string;
  readonly end: string;
  readonly locId?: string | undefined;
  /** Compute what would change and write nothing. */
  readonly dryRun?: boolean;
  /** Called after each day (a chunk) with the running totals. */
  readonly onChunk?: ((chunk: BackfillChunk, done: number, of: number) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  /** The audit entry of this backfill: every hourly version it writes links to it (temperature_history). */
  readonly auditId?: number | undefined;
}

export interface BackfillChunk extends RollupCounts {
  readonly day: string;
  /** The whole day lies before the raw-retention horizon and was left alone. */
  readonly frozen: boolean;
}

export interface BackfillSummary extends RollupCounts {
  readonly days: number;
  readonly frozenDays: number;
  /** The raw-retention horizon when part of the range was frozen. */
  readonly frozenBefore: Date | undefined;
  readonly dryRun: boolean;
  readonly milliseconds: number;
}

const ZERO: RollupCounts = { hours: 0, rawRows: 0, written: 0, unchanged: 0, removed: 0 };

async function backfillDay(db: Kysely<Database>, day: PlantDay, options: BackfillOptions): Promise<BackfillChunk> {
  if (options.dryRun) {
    const { frozenBefore } = await readState(db);
    const from = frozenBefore && frozenBefore > day.from ? frozenBefore : day.from;
    if (from >= day.to) return { day: day.day, frozen: true, ...ZERO };
    const comparison = await compareRange(db, { kind: 'range', from, to: day.to, locId: options.locId }, options.timezone, 'exact');
    const written = comparison.differences.filter((difference) => difference.kind !== 'extra').length;
    const removed = comparison.differences.length - written;
    return { day: day.day, frozen: false, hours: comparison.hours, rawRows: comparison.rawRows, written, unchanged: comparison.hours - written, removed };
  }
  // The horizon is read under the writer lock, so a prune that commits meanwhile is respected.
  return inHourlyTransaction(db, { cause: 'backfill', auditId: options.auditId }, async ({ trx, frozenBefore }) => {
    const from = frozenBefore && frozenBefore > day.from ? frozenBefore : day.from;
    if (from >= day.to) return { day: day.day, frozen: true, ...ZERO };
    const counts = await applyRollup(trx, { kind: 'range', from, to: day.to, locId: options.locId }, options.timezone);
    return { day: day.day, frozen: false, ...counts };
  });
}

/**
 * Re-aggregates whole plant days, one transaction per day, so that a year never holds one
 * giant transaction and a killed backfill has committed every day it finished: running the same
 * command again redoes the rest (finished days rewrite nothing). Dirty marks are left alone: a
 * mark's writer may commit after this snapshot, and the next run re-checks marked hours cheaply.
 */
export async function backfill(db: Kysely<Database>, options: BackfillOptions): Promise<BackfillSummary> {
  const started = performance.now();
  const days = await planDays(db, options.timezone, options.start, options.end);
  let totals: RollupCounts = ZERO;
  let frozenDays = 0;
  let done = 0;
  for (const day of days) {
    if (options.signal?.aborted) break;
    const chunk = await backfillDay(db, day, options);
    done += 1;
    if (chunk.frozen) frozenDays += 1;
    totals = {
      hours: totals.hours + chunk.hours,
      rawRows: totals.rawRows + chunk.rawRows,
      written: totals.written + chunk.written,
      unchanged: totals.unchanged + chunk.unchanged,
      removed: totals.removed + chunk.removed,
    };
    options.onChunk?.(chunk, done, days.length);
  }
  const { frozenBefore } = await readState(db);
  const first = days[0];
  return {
    ...totals,
    days: done,
    frozenDays,
    frozenBefore: frozenBefore && first && frozenBefore > first.from ? frozenBefore : undefined,
    dryRun: options.dryRun === true,
    milliseconds: performance.now() - started,
  };
}
