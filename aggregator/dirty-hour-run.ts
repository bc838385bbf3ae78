import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/index.js';
import type { Logger } from 'pino';
import { dropFrozenMarks } from './frozen-late-data.js';
import { applyRollup, type DirtyHour, type RollupCounts } from './hourly-rollup.js';
import { inHourlyTransaction } from './hourly-transaction.js';

export interface DirtyHourRunOptions {
  readonly timezone: string;
  /** Only hours that end at or before this instant are complete enough to aggregate. */
  readonly completeBefore: Date;
  /** (location, hour) pairs per transaction. */
  readonly batchSize: number;
  /** Stops between batches (shutdown); the marks left are taken by the next run. */
  readonly signal?: AbortSignal | undefined;
  /** Where readings that arrived for frozen hours are reported (warn). */
  readonly log?: Logger | undefined;
  /** What the hourly changes are recorded as (default: a scheduled run). */
  readonly cause?: 'scheduled-run' | 'prune' | undefined;
}

export interface DirtyHourRunTotals extends RollupCounts {
  readonly batches: number;
  /** Dirty hours re-aggregated. */
  readonly claimed: number;
  /** Marks of frozen hours dropped without touching their hourly rows. */
  readonly frozenMarksDropped: number;
}

/**
 * Re-aggregates every complete dirty hour, in batches of `batchSize` hours, one transaction per
 * batch: claim marks with FOR UPDATE SKIP LOCKED, recompute those hours from raw, delete the
 * marks, commit.
 *
 * A mark held by an uncommitted writer (its upsert row-locks an existing mark, or its new mark is
 * not visible yet) is skipped, so the rows we cannot see are never declared aggregated; the
 * writer's commit leaves the mark for the next run. A writer that touches a claimed hour waits on
 * our lock and re-inserts the mark after our delete commits. Hence no lookback window: whatever
 * commits, in whatever order, is aggregated by the first run after its commit.
 */
export async function aggregateDirtyHours(db: Kysely<Database>, options: DirtyHourRunOptions): Promise<DirtyHourRunTotals> {
  let totals: DirtyHourRunTotals = { hours: 0, rawRows: 0, written: 0, unchanged: 0, removed: 0, batches: 0, claimed: 0, frozenMarksDropped: 0 };
  for (;;) {
    if (options.signal?.aborted) break;
    const batch = await inHourlyTransaction(db, { cause: options.cause ?? 'scheduled-run' }, async ({ trx, frozenBefore }) => {
      // Raw rows of frozen hours are gone or going (prune's own deletes mark them); their
      // hourly rows must stay as they are.
      const frozenMarksDropped = frozenBefore ? (await dropFrozenMarks(trx, frozenBefore, options.log)).dropped : 0;
      const { rows: hours } = await sql<DirtyHour>`
        SELECT loc_id, bucket FROM raw_dirty_hour
        WHERE bucket < ${options.completeBefore} ${frozenBefore ? sql`AND bucket >= ${frozenBefore}` : sql``}
        ORDER BY loc_id, bucket
        LIMIT ${options.batchSize}
        FOR UPDATE SKIP LOCKED`.execute(trx);
      const counts = await applyRollup(trx, { kind: 'hours', hours }, options.timezone);
      if (hours.length > 0) {
        await sql`
          DELETE FROM raw_dirty_hour WHERE (loc_id, bucket) IN (
            SELECT * FROM unnest(${hours.map((hour) => hour.loc_id)}::text[], ${hours.map((hour) => hour.bucket.toISOString())}::timestamptz[]))`.execute(
          trx,
        );
      }
      return { counts, claimed: hours.length, frozenMarksDropped };
    });
    totals = {
      hours: totals.hours + batch.counts.hours,
      rawRows: totals.rawRows + batch.counts.rawRows,
      written: totals.written + batch.counts.written,
      unchanged: totals.unchanged + batch.counts.unchanged,
      removed: totals.removed + batch.counts.removed,
      batches: totals.batches + (batch.claimed > 0 ? 1 : 0),
      claimed: totals.claimed + batch.claimed,
      frozenMarksDropped: totals.frozenMarksDropped + batch.frozenMarksDropped,
    };
    // A short batch means nothing claimable is left; what remains is locked by writers.
    if (batch.claimed < options.batchSize) break;
  }
  return totals;
}

/** Marks waiting: all of them, or only those of hours complete before `completeBefore`. */
export async function countDirtyHours(db: Kysely<Database>, completeBefore?: Date): Promise<number> {
  const { rows } = await sql<{ count: number }>`
    SELECT count(*) AS count FROM raw_dirty_hour ${completeBefore ? sql`WHERE bucket < ${completeBefore}` : sql``}`.execute(db);
  return rows[0]?.count ?? 0;
}

/** Start of the newest hour in the hourly table that ended before `completeBefore`. */
export async function newestAggregatedHour(db: Kysely<Database>, completeBefore: Date): Promise<Date | undefined> {
  const { rows } = await sql<{ bucket: Date | null }>`
    SELECT max(bucket) AS bucket FROM temperature WHERE bucket < ${completeBefore}`.execute(db);
  return rows[0]?.bucket ?? undefined;
}
