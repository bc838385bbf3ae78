import { sql, type Kysely } from 'kysely';
import { dropRawPartitionsBefore, type Database } from '../db/index.js';
import { advanceFrozenBefore } from './aggregator-state.js';
import type { Logger } from 'pino';
import { aggregateDirtyHours } from './dirty-hour-run.js';
import { dropFrozenMarks } from './frozen-late-data.js';
import { inHourlyTransaction } from './hourly-transaction.js';

const HOUR_MS = 3_600_000;

export interface PruneOptions {
  readonly timezone: string;
  /** RAW_RETENTION in milliseconds. */
  readonly retentionMs: number;
  readonly now: Date;
  /** Dirty hours per aggregation batch. */
  readonly batchSize: number;
  /** Hours of raw data deleted per statement (each statement is its own transaction). */
  readonly deleteSliceHours?: number;
  readonly signal?: AbortSignal | undefined;
  readonly log?: Logger | undefined;
}

export interface PruneReport {
  /** Hours before this are frozen (the horizon in force after the prune). */
  readonly frozenBefore: Date | undefined;
  /** Raw rows gone: those of the partitions dropped plus those deleted row by row. */
  readonly rawRowsDeleted: number;
  /** Day partitions (and the legacy one) wholly before the horizon, emptied whole and detached (an emptied one the next prune detaches when the raw table was busy). */
  readonly partitionsDropped: readonly string[];
  /** Dirty hours aggregated first, so that no raw row of an unaggregated hour is dropped. */
  readonly hoursAggregated: number;
}

/**
 * Raw retention. First aggregates every dirty hour before the target horizon, then moves the
 * recorded horizon forward, but never past an hour whose mark is still held by an uncommitted
 * writer (it is not aggregated yet). Then it detaches and drops every partition that ends at or
 * before the horizon: no row is deleted and no trigger fires, so this costs the same whatever
 * the partitions hold. What is left before the horizon (the day partition that straddles it, the
 * default partition's odd readings, a legacy partition from the conversion) is deleted one slice
 * at a time; those deletes mark their hours dirty like any other delete, and marks before the
 * horizon are dropped here and by every run without touching the frozen hourly rows.
 *
 * A reading that arrives for an hour before the horizon after it has moved is outside the
 * retention period: it is deleted by the next prune and never changes its frozen hour.
 */
export async function pruneRaw(db: Kysely<Database>, options: PruneOptions): Promise<PruneReport> {
  const target = new Date(Math.floor((options.now.getTime() - options.retentionMs) / HOUR_MS) * HOUR_MS);
  const aggregated = await aggregateDirtyHours(db, {
    timezone: options.timezone,
    completeBefore: target,
    batchSize: options.batchSize,
    signal: options.signal,
    log: options.log,
    cause: 'prune',
  });
  const horizon = await inHourlyTransaction(db, { cause: 'prune' }, async ({ trx, frozenBefore }) => {
    const { rows } = await sql<{ bucket: Date | null }>`
      SELECT min(bucket) AS bucket FROM raw_dirty_hour
      WHERE bucket < ${target} ${frozenBefore ? sql`AND bucket >= ${frozenBefore}` : sql``}`.execute(trx);
    const pending = rows[0]?.bucket ?? undefined;
    const candidate = pending && pending < target ? pending : target;
    if (frozenBefore && candidate <= frozenBefore) return frozenBefore;
    return advanceFrozenBefore(trx, candidate);
  });
  // Readings that arrived for hours already frozen, before their raw rows go: reported here, or
  // the deletes below would leave nothing to report.
  await dropFrozenMarks(db, horizon, options.log);
  const dropped = await dropRawPartitionsBefore(db, horizon, options.signal);
  if (dropped.partitions.length + dropped.emptied.length > 0) {
    options.log?.info(
      { dropped: dropped.partitions, emptied: dropped.emptied, readings: dropped.readings },
      `dropped ${dropped.partitions.length} raw partition(s) before the horizon` +
        (dropped.emptied.length > 0 ? `; ${dropped.emptied.length} emptied, to be detached by the next prune (the raw table was busy)` : ''),
    );
  }
  if (dropped.busy.length > 0) {
    options.log?.warn({ partitions: dropped.busy.map((partition) => partition.name) }, 'raw partition(s) before the horizon stayed locked by a reader; the next prune drops them');
  }
  // Rows of a partition left busy are not deleted one by one either: the next prune drops it whole.
  const notBusy = sql.join(
    dropped.busy.map((partition) => sql`NOT (capture_dt >= ${partition.from ?? new Date(0)} AND capture_dt < ${partition.to ?? horizon})`),
    sql` AND `,
  );
  const outsideBusy = dropped.busy.length > 0 ? sql`AND ${notBusy}` : sql``;
  // Per location along the primary key: finding the next row to delete is an index probe, so
  // gaps in the data cost nothing, and each statement deletes at most one slice of one location.
  // The time bound keeps every partition after the horizon out of the plan.
  const { rows: locations } = await sql<{ loc_id: string }>`
    WITH RECURSIVE locs AS (
      (SELECT loc_id FROM temperature_raw WHERE capture_dt < ${horizon} ${outsideBusy} ORDER BY loc_id LIMIT 1)
      UNION ALL
      SELECT (SELECT r.loc_id FROM temperature_raw r WHERE r.loc_id > locs.loc_id AND r.capture_dt < ${horizon} ${outsideBusy} ORDER BY r.loc_id LIMIT 1)
      FROM locs WHERE locs.loc_id IS NOT NULL
    )
    SELECT loc_id FROM locs WHERE loc_id IS NOT NULL`.execute(db);
  const sliceMs = (options.deleteSliceHours ?? 24) * HOUR_MS;
  let rawRowsDeleted = dropped.readings;
  for (const { loc_id: locId } of locations) {
    let cursor: Date | undefined = new Date(0);
    while (cursor && !options.signal?.aborted) {
      const found: { rows: { next: Date | null }[] } = await sql<{ next: Date | null }>`
        SELECT min(capture_dt) AS next FROM temperature_raw
        WHERE loc_id = ${locId} AND capture_dt >= ${cursor} AND capture_dt < ${horizon} ${outsideBusy}`.execute(db);
      const next: Date | undefined = found.rows[0]?.next ?? undefined;
      if (!next) break;
      const to: Date = new Date(Math.min(next.getTime() + sliceMs, horizon.getTime()));
      const deleted = await sql`
        DELETE FROM temperature_raw WHERE loc_id = ${locId} AND capture_dt >= ${next} AND capture_dt < ${to} ${outsideBusy}`.execute(db);
      rawRowsDeleted += Number(deleted.numAffectedRows ?? 0);
      cursor = to;
    }
  }
  await sql`
    DELETE FROM raw_dirty_hour WHERE (loc_id, bucket) IN (
      SELECT loc_id, bucket FROM raw_dirty_hour WHERE bucket < ${horizon} FOR UPDATE SKIP LOCKED)`.execute(db);
  return { frozenBefore: horizon, rawRowsDeleted, partitionsDropped: [...dropped.partitions, ...dropped.emptied], hoursAggregated: aggregated.claimed };
}
