import { sql, type Kysely } from 'kysely';
import type pg from 'pg';

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

/**
 * The name of the partition of the UTC day holding `time` (Unix ms): the one rule, also written
 * in SQL by raw_partition_create (migration 0005), which gives that partition exactly that day's
 * bounds. The collector COPYs fresh readings straight into it (collectors/raw-table-writer.ts).
 */
export function rawPartitionName(time: number): string {
  // Called for every reading the collector writes: the name is built once per day.
  const dayNumber = Math.floor(time / DAY_MS);
  let name = partitionNames.get(dayNumber);
  if (name === undefined) {
    name = `temperature_raw_p${utcDay(dayNumber * DAY_MS).replaceAll('-', '')}`;
    if (partitionNames.size >= 1024) partitionNames.clear();
    partitionNames.set(dayNumber, name);
  }
  return name;
}
const partitionNames = new Map<number, string>();

/**
 * Which of `names` are partitions of temperature_raw now (a table of that name that is not
 * attached does not count): one catalogue read, on the caller's connection.
 */
export async function attachedRawPartitions(client: pg.ClientBase, names: readonly string[]): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'temperature_raw'::regclass AND c.relname = ANY($1::text[])`,
    [names],
  );
  return new Set(rows.map((row) => row.name));
}

/** Names of the day partitions (catalogue only: cheap with a year of them, unlike reading every bound). */
async function dayPartitionNames<DB>(db: Kysely<DB>): Promise<Set<string>> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'temperature_raw'::regclass AND c.relname ~ '^temperature_raw_p[0-9]{8}$'`.execute(db);
  return new Set(rows.map((row) => row.name));
}


/**
 * The scheduled form: today (UTC) and RAW_PARTITION_DAYS_AHEAD days after it. Days whose
 * partition exists by name are skipped without a call, so a run with a year of partitions pays
 * one catalogue read; the rest go through createRawPartitions (which checks every bound).
 */
export async function createRawPartitionsAhead<DB>(db: Kysely<DB>, now: Date): Promise<string[]> {
  const existing = await dayPartitionNames(db);
  const created: string[] = [];
  const first = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  for (let time = first; time <= first + RAW_PARTITION_DAYS_AHEAD * DAY_MS; time += DAY_MS) {
    if (!existing.has(rawPartitionName(time))) created.push(...(await createRawPartitions(db, { from: new Date(time), to: new Date(time) })));
  }
  return created;
}

export interface DroppedRawPartitions {
  /** Detached and dropped. */
  readonly partitions: readonly string[];
  /** Emptied (TRUNCATE) but still attached: the parent was busy; the next prune drops them. */
  readonly emptied: readonly string[];
  /** Left as they were because they stayed locked (a long reader of that day); their rows must not be deleted row by row either. */
  readonly busy: readonly RawPartition[];
  /** Readings the emptied and dropped partitions held, counted under their lock. */
  readonly readings: number;
}

/**
 * Empties, detaches and drops every range partition that ends at or before `horizon`, which must
 * not be after `aggregator_state.frozen_before` (the database function refuses otherwise). No row
 * is deleted one by one and no trigger fires: the hours of those rows are frozen already. See the
 * function in migrations/0005-time-partitioned-raw.ts for the locks.
 */
export async function dropRawPartitionsBefore<DB>(db: Kysely<DB>, horizon: Date, signal?: AbortSignal): Promise<DroppedRawPartitions> {
  const doomed = (await listRawPartitions(db)).filter((partition) => !partition.isDefault && partition.to !== undefined && partition.to <= horizon);
  const partitions: string[] = [];
  const emptied: string[] = [];
  const busy: RawPartition[] = [];
  let readings = 0;
  for (const partition of doomed) {
    if (signal?.aborted) break;
    // Once the parent was busy, the others are only emptied: one wait per prune, not one per partition.
    const tryDetach = emptied.length === 0;
    const { rows } = await sql<{ readings: number | null; dropped: boolean }>`
      SELECT readings, dropped FROM raw_partition_drop(${partition.name}, ${tryDetach})`.execute(db);
    const result = rows[0];
    if (result?.readings === null || result?.readings === undefined) {
      busy.push(partition);
      continue;
    }
    readings += Number(result.readings);
    (result.dropped ? partitions : emptied).push(partition.name);
  }
  return { partitions, emptied, busy, readings };
}

export interface RawPartitionStatus {
  /** Readings in the default partition: outside every day partition (a wrong clock, or history older than the partitions). */
  readonly readingsOutside: number;
  /** End of the newest day partition; `undefined` when there is none. */
  readonly coveredUntil: Date | undefined;
}

export async function rawPartitionStatus<DB>(db: Kysely<DB>): Promise<RawPartitionStatus> {
  const { rows } = await sql<{ outside: number }>`SELECT raw_readings_outside_partitions() AS outside`.execute(db);
  const newest = [...(await dayPartitionNames(db))].sort().at(-1);
  const coveredUntil = newest
    ? new Date(Date.parse(`${newest.slice(-8, -4)}-${newest.slice(-4, -2)}-${newest.slice(-2)}T00:00:00Z`) + DAY_MS)
    : undefined;
  return { readingsOutside: Number(rows[0]?.outside ?? 0), coveredUntil };
}
