import { sql, type Kysely } from 'kysely';
import pg from 'pg';

/**
 * Partition maintenance of temperature_raw (migrations/0005-time-partitioned-raw.ts): one
 * partition per UTC day, created ahead of time by `plant-climate migrate` and by every scheduled
 * aggregation run, never on the write path; dropped whole by `aggregator prune`. The work is done
 * by the migration's SECURITY DEFINER functions, so a least-privilege aggregator role can do it.
 *
 * Why a day: retention drops whole partitions and trims only the one that straddles the horizon
 * by DELETE, so the width bounds what a prune deletes row by row (a day: at most 24 h of rows,
 * against 7 days for weekly partitions); and a year of day partitions (366 plus the default)
 * costs the hourly run and COPY little (bench/raw-partitions.ts, bench/results/raw-partitions.md).
 * Hourly partitions would mean 8,784 a year, which the planner pays on every query without a
 * constant time range.
 */

const DAY_MS = 86_400_000;
/** Days of partitions kept ready ahead of today: a week of scheduler downtime before readings reach the default partition. */
export const RAW_PARTITION_DAYS_AHEAD = 7;
/** A DETACH that cannot get its lock within lock_timeout (5 s, in the function) is tried again this many times. */
const DROP_ATTEMPTS = 3;

export interface RawPartition {
  readonly name: string;
  /** `undefined` for MINVALUE and for the default partition. */
  readonly from: Date | undefined;
  /** `undefined` for MAXVALUE and for the default partition. */
  readonly to: Date | undefined;
  readonly isDefault: boolean;
}

export async function listRawPartitions<DB>(db: Kysely<DB>): Promise<RawPartition[]> {
  const { rows } = await sql<{ partition: string; lower_bound: Date | null; upper_bound: Date | null; is_default: boolean }>`
    SELECT partition, lower_bound, upper_bound, is_default FROM raw_partitions()`.execute(db);
  return rows.map((row) => ({ name: row.partition, from: row.lower_bound ?? undefined, to: row.upper_bound ?? undefined, isDefault: row.is_default }));
}

const utcDay = (time: number) => new Date(Math.floor(time / DAY_MS) * DAY_MS).toISOString().slice(0, 10);

/**
 * Creates the partition of every UTC day from `from` to `to` (both inclusive) that no partition
 * covers yet, one transaction per day; days wholly before the raw-retention horizon are skipped.
 * Readings of a new day waiting in the default partition move into it. Returns the partitions
 * created. Safe beside writers and beside another maintainer (they take turns on an advisory lock).
 */
export async function createRawPartitions<DB>(db: Kysely<DB>, range: { from: Date; to: Date }): Promise<string[]> {
  const created: string[] = [];
  for (let time = Math.floor(range.from.getTime() / DAY_MS) * DAY_MS; time <= range.to.getTime(); time += DAY_MS) {
    const { rows } = await sql<{ name: string | null }>`SELECT raw_partition_create(${utcDay(time)}::date) AS name`.execute(db);
    const name = rows[0]?.name;
    if (name) created.push(name);
  }
  return created;
}

/** The scheduled form: today (UTC) and RAW_PARTITION_DAYS_AHEAD days after it. */
export async function createRawPartitionsAhead<DB>(db: Kysely<DB>, now: Date): Promise<string[]> {
  return createRawPartitions(db, { from: now, to: new Date(now.getTime() + RAW_PARTITION_DAYS_AHEAD * DAY_MS) });
}

export interface DroppedRawPartitions {
  readonly partitions: readonly string[];
  /** Readings they held, counted just before each was detached. */
  readonly readings: number;
}

const isLockTimeout = (error: unknown) => error instanceof pg.DatabaseError && error.code === '55P03';

/**
 * Detaches and drops every range partition that ends at or before `horizon`, which must not be
 * after `aggregator_state.frozen_before` (the function refuses otherwise). No row is deleted and no
 * trigger fires: the hours of those rows are frozen already. A DETACH that times out waiting for
 * its lock (a long reader of the raw table) is retried; after DROP_ATTEMPTS it throws and the
 * next prune carries on where this one stopped.
 */
export async function dropRawPartitionsBefore<DB>(db: Kysely<DB>, horizon: Date, signal?: AbortSignal): Promise<DroppedRawPartitions> {
  const doomed = (await listRawPartitions(db)).filter((partition) => !partition.isDefault && partition.to !== undefined && partition.to <= horizon);
  const partitions: string[] = [];
  let readings = 0;
  for (const partition of doomed) {
    if (signal?.aborted) break;
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await sql<{ readings: number }>`SELECT raw_partition_drop(${partition.name}) AS readings`.execute(db);
        readings += Number(rows[0]?.readings ?? 0);
        partitions.push(partition.name);
        break;
      } catch (error) {
        if (!isLockTimeout(error) || attempt >= DROP_ATTEMPTS) throw error;
      }
    }
  }
  return { partitions, readings };
}

export interface RawPartitionStatus {
  /** Readings in the default partition: outside every day partition (a wrong clock, or history older than the partitions). */
  readonly readingsOutside: number;
  /** End of the newest day partition; `undefined` when there is none. */
  readonly coveredUntil: Date | undefined;
}

export async function rawPartitionStatus<DB>(db: Kysely<DB>): Promise<RawPartitionStatus> {
  const { rows } = await sql<{ outside: number; until: Date | null }>`
    SELECT raw_readings_outside_partitions() AS outside,
           (SELECT max(upper_bound) FROM raw_partitions() WHERE NOT is_default) AS until`.execute(db);
  return { readingsOutside: Number(rows[0]?.outside ?? 0), coveredUntil: rows[0]?.until ?? undefined };
}
