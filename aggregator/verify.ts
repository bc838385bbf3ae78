import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/index.js';
import { readState, recordVerify } from './aggregator-state.js';
import { applyRollup, compareRange, type DirtyHour, type HourDifference } from './hourly-rollup.js';
import { inHourlyTransaction } from './hourly-transaction.js';
import { planDays } from './plant-days.js';

const HOUR_MS = 3_600_000;

export interface VerifyOptions {
  readonly timezone: string;
  readonly start: string;
  readonly end: string;
  readonly locId?: string | undefined;
  readonly now?: Date;
  /** Re-aggregate exactly the wrong hours (not the pending ones, never frozen ones). */
  readonly repair?: boolean;
  readonly onWrong?: ((difference: HourDifference) => void) | undefined;
  /**
   * With `repair`: records the audit entry of the repair (what verify saw) before writing, in the
   * repair's transaction, and returns its id, which the repaired hours' history links to.
   */
  readonly auditRepair?: ((trx: Transaction<Database>, wrong: readonly HourDifference[]) => Promise<number>) | undefined;
}

/** Why a differing hour is not (yet) wrong. */
export type PendingReason = 'dirty' | 'current';

export interface PendingHour {
  readonly loc_id: string;
  readonly bucket: string;
  readonly reason: PendingReason;
}

export interface VerifyReport {
  readonly days: number;
  /** Hours with raw rows that were compared. */
  readonly hours: number;
  readonly rawRows: number;
  /** Hours whose row differs from a fresh aggregation of settled raw data: a defect. */
  readonly wrong: readonly HourDifference[];
  /**
   * Hours that differ only because they are not settled: marked dirty (raw rows changed since
   * they were aggregated; the next run redoes them) or not over yet. Not a defect.
   */
  readonly pending: readonly PendingHour[];
  /** Days wholly before the raw-retention horizon: not compared. */
  readonly frozenDays: number;
  readonly frozenBefore: Date | undefined;
  /** With `repair`: the wrong hours re-aggregated (rows written or removed). */
  readonly repaired: number | undefined;
}

/**
 * Proves the hourly table: per plant day, compares every stored row with a fresh aggregation of
 * the raw rows (as the contract does: MIN, MAX and counts exactly, AVG within a relative 1e-9) and
 * sorts every difference into one of three classes:
 * - frozen: before the retention horizon; raw rows are gone by design, not compared;
 * - pending: the hour is marked dirty (read in the same snapshot as the rows, so a reading
 *   committed with its mark is never taken for a defect) or is the current hour;
 * - wrong: everything else. Only these make verify fail, so a nightly run over a range that
 *   reaches today is quiet unless something is really wrong.
 * Records the time and the number of wrong hours so the scheduled process can export them.
 */
export async function verify(db: Kysely<Database>, options: VerifyOptions): Promise<VerifyReport> {
  const now = options.now ?? new Date();
  const currentHour = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
  const { frozenBefore } = await readState(db);
  const days = await planDays(db, options.timezone, options.start, options.end);
  let hours = 0;
  let rawRows = 0;
  let frozenDays = 0;
  const wrong: HourDifference[] = [];
  const pending: PendingHour[] = [];
  for (const day of days) {
    const from = frozenBefore && frozenBefore > day.from ? frozenBefore : day.from;
    if (from >= day.to) {
      frozenDays += 1;
      continue;
    }
    const comparison = await compareRange(db, { kind: 'range', from, to: day.to, locId: options.locId }, options.timezone, 'tolerant');
    hours += comparison.hours;
    rawRows += comparison.rawRows;
    for (const difference of comparison.differences) {
      if (Date.parse(difference.bucket) >= currentHour) pending.push({ loc_id: difference.loc_id, bucket: difference.bucket, reason: 'current' });
      else if (difference.dirty) pending.push({ loc_id: difference.loc_id, bucket: difference.bucket, reason: 'dirty' });
      else {
        wrong.push(difference);
        options.onWrong?.(difference);
      }
    }
  }
  const repaired = options.repair ? await repairHours(db, options.timezone, wrong, options.auditRepair) : undefined;
  await recordVerify(db, now, wrong.length);
  const first = days[0];
  return {
    days: days.length,
    hours,
    rawRows,
    wrong,
    pending,
    frozenDays,
    frozenBefore: frozenBefore && first && frozenBefore > first.from ? frozenBefore : undefined,
    repaired,
  };
}

/** Re-aggregates exactly the given hours, as a run would, under the writer lock and never before the horizon. */
async function repairHours(db: Kysely<Database>, timezone: string, wrong: readonly HourDifference[], audit: VerifyOptions['auditRepair']): Promise<number> {
  if (wrong.length === 0) return 0;
  // The audit entry is written first in the repair's own transaction: its id stamps the history.
  const change = { cause: 'verify-repair' as const, audit: audit ? (trx: Transaction<Database>) => audit(trx, wrong) : undefined };
  return inHourlyTransaction(db, change, async ({ trx, frozenBefore }) => {
    const hours: DirtyHour[] = wrong
      .map((difference) => ({ loc_id: difference.loc_id, bucket: new Date(difference.bucket) }))
      .filter((hour) => !frozenBefore || hour.bucket >= frozenBefore);
    const counts = await applyRollup(trx, { kind: 'hours', hours }, timezone);
    return counts.written + counts.removed;
  });
}
