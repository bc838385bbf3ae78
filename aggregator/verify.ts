import type { Kysely } from 'kysely';
import type { Database } from '../db/index.js';
import { readState, recordVerify } from './aggregator-state.js';
import { compareRange, type HourDifference } from './hourly-rollup.js';
import { planDays } from './plant-days.js';

export interface VerifyOptions {
  readonly timezone: string;
  readonly start: string;
  readonly end: string;
  readonly locId?: string | undefined;
  readonly now?: Date;
  readonly onDifference?: ((difference: HourDifference) => void) | undefined;
}

export interface VerifyReport {
  readonly days: number;
  /** Hours with raw rows that were compared. */
  readonly hours: number;
  readonly rawRows: number;
  readonly differences: number;
  /** Days wholly before the raw-retention horizon: not compared. */
  readonly frozenDays: number;
  readonly frozenBefore: Date | undefined;
}

/**
 * Proves the hourly table: per plant day, compares every stored row with a fresh aggregation of
 * the raw rows (as the contract does: MAX and counts exactly, AVG within a relative 1e-9) and
 * reports every missing, extra or wrong hour. Hours before the retention horizon have lost their
 * raw rows by design and are not compared. Reads only; records the time and outcome so the
 * scheduled process can export `plant_aggregator_last_verify_timestamp_seconds`.
 */
export async function verify(db: Kysely<Database>, options: VerifyOptions): Promise<VerifyReport> {
  const { frozenBefore } = await readState(db);
  const days = await planDays(db, options.timezone, options.start, options.end);
  let hours = 0;
  let rawRows = 0;
  let differences = 0;
  let frozenDays = 0;
  for (const day of days) {
    const from = frozenBefore && frozenBefore > day.from ? frozenBefore : day.from;
    if (from >= day.to) {
      frozenDays += 1;
      continue;
    }
    const comparison = await compareRange(db, { kind: 'range', from, to: day.to, locId: options.locId }, options.timezone, 'tolerant');
    hours += comparison.hours;
    rawRows += comparison.rawRows;
    differences += comparison.differences.length;
    for (const difference of comparison.differences) options.onDifference?.(difference);
  }
  await recordVerify(db, options.now ?? new Date(), differences);
  const first = days[0];
  return { days: days.length, hours, rawRows, differences, frozenDays, frozenBefore: frozenBefore && first && frozenBefore > first.from ? frozenBefore : undefined };
}
