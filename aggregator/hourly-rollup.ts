import { sql, type Kysely, type RawBuilder } from 'kysely';
import {
  HOURLY_ROW_COLUMNS,
  RAW_DERIVED_COLUMNS,
  expectedCountOf,
  hourlyRowsInRange,
  hourlyRowsOfHours,
  type Database,
  type HourlyRowColumn,
} from '../db/index.js';

/**
 * The hourly rollup: makes stored hourly rows equal the definition of db/hourly-row.ts over a
 * scope (a time range or a list of (location, hour) pairs). Node only passes the scope and reads
 * back counts.
 */

/** Which hours a statement covers. Buckets are absolute UTC hour starts. */
export type HourScope =
  | { readonly kind: 'range'; readonly from: Date; readonly to: Date; readonly locId?: string | undefined }
  | { readonly kind: 'hours'; readonly hours: readonly DirtyHour[] };

export interface DirtyHour {
  readonly loc_id: string;
  readonly bucket: Date;
}

export interface RollupCounts {
  /** Hours that have raw rows in the scope. */
  readonly hours: number;
  /** Raw rows aggregated. */
  readonly rawRows: number;
  /** Hourly rows inserted or updated because their values differed. */
  readonly written: number;
  /** Hours whose values were already right and were not rewritten. */
  readonly unchanged: number;
  /** Hourly rows deleted because their hour has no raw rows any more. */
  readonly removed: number;
}

const columnList = (alias: string) => sql.raw(HOURLY_ROW_COLUMNS.map((column) => `${alias}.${column}`).join(', '));

function hourArrays(hours: readonly DirtyHour[]): { locIds: string[]; buckets: string[] } {
  return { locIds: hours.map((hour) => hour.loc_id), buckets: hours.map((hour) => hour.bucket.toISOString()) };
}

/**
 * The fresh hourly rows of the scope, with the columns of the hourly table. `expected_count` is
 * the stored one when the hour has it (what the devices were configured for when the hour was
 * first aggregated: a later change of poll interval does not rewrite history), else the devices'
 * current one.
 */
function freshHours(scope: HourScope, timezone: string): RawBuilder<unknown> {
  const rows =
    scope.kind === 'range'
      ? hourlyRowsInRange({ from: scope.from, to: scope.to, locIds: scope.locId === undefined ? undefined : [scope.locId], timezone })
      : hourlyRowsOfHours(hourArrays(scope.hours), timezone);
  return sql`
    SELECT g.*, coalesce(
      (SELECT s.expected_count FROM temperature s WHERE s.loc_id = g.loc_id AND s.bucket = g.bucket),
      ${expectedCountOf(sql`g.loc_id`)}) AS expected_count
    FROM (${rows}) AS g`;
}

/** The stored hourly rows that the scope covers (alias `t`). */
function storedInScope(scope: HourScope): RawBuilder<unknown> {
  if (scope.kind === 'range') {
    return sql`t.bucket >= ${scope.from} AND t.bucket < ${scope.to}
      ${scope.locId === undefined ? sql`` : sql`AND t.loc_id = ${scope.locId}`}`;
  }
  const { locIds, buckets } = hourArrays(scope.hours);
  return sql`(t.loc_id, t.bucket) IN (SELECT * FROM unnest(${locIds}::text[], ${buckets}::timestamptz[]))`;
}

/**
 * Makes the hourly table equal the fresh aggregation over the scope, in one statement: upserts
 * the hours that have raw rows (rewriting only rows whose values differ) and deletes the rows of
 * hours that have none. Callers run it inside `inHourlyTransaction` and never over frozen hours.
 */
export async function applyRollup(db: Kysely<Database>, scope: HourScope, timezone: string): Promise<RollupCounts> {
  if (scope.kind === 'hours' && scope.hours.length === 0) return { hours: 0, rawRows: 0, written: 0, unchanged: 0, removed: 0 };
  const { rows } = await sql<{ hours: number; raw_rows: number; written: number; removed: number }>`
    WITH fresh AS MATERIALIZED (${freshHours(scope, timezone)}),
    written AS (
      INSERT INTO temperature AS t (loc_id, bucket, ${sql.raw(HOURLY_ROW_COLUMNS.join(', '))}, updated_at)
      SELECT f.loc_id, f.bucket, ${columnList('f')}, now() FROM fresh f
      ON CONFLICT (loc_id, bucket) DO UPDATE SET
        ${sql.raw(HOURLY_ROW_COLUMNS.map((column) => `${column} = excluded.${column}`).join(', '))},
        updated_at = excluded.updated_at
      WHERE (${columnList('t')}) IS DISTINCT FROM (${columnList('excluded')})
      RETURNING 1
    ),
    removed AS (
      DELETE FROM temperature AS t
      WHERE ${storedInScope(scope)}
        AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.loc_id = t.loc_id AND f.bucket = t.bucket)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM fresh) AS hours,
           (SELECT coalesce(sum(sample_count), 0) FROM fresh) AS raw_rows,
           (SELECT count(*) FROM written) AS written,
           (SELECT count(*) FROM removed) AS removed
  `.execute(db);
  const row = rows[0] ?? { hours: 0, raw_rows: 0, written: 0, removed: 0 };
  return { hours: row.hours, rawRows: row.raw_rows, written: row.written, unchanged: row.hours - row.written, removed: row.removed };
}

/** Columns that are sums of floats (AVGs, the Arrhenius sum): equal within a relative 1e-9 by the contract. */
const FLOAT_SUM_COLUMNS = /_(avg|sum)$/;

export type DifferenceKind = 'missing' | 'extra' | 'changed';

/** One hour where the stored row is not what the raw rows give. Values as JSON (null when absent). */
export interface HourDifference {
  readonly loc_id: string;
  /** ISO 8601 UTC. */
  readonly bucket: string;
  readonly kind: DifferenceKind;
  readonly stored: Partial<Record<HourlyRowColumn, string | number | null>> | null;
  readonly fresh: Partial<Record<HourlyRowColumn, string | number | null>> | null;
  /** The hour has a dirty mark: its raw rows changed since it was aggregated (read in the same snapshot). */
  readonly dirty: boolean;
}

export interface RangeComparison {
  readonly hours: number;
  readonly rawRows: number;
  readonly stored: number;
  readonly differences: readonly HourDifference[];
}

/**
 * Compares the stored hourly rows of a range with a fresh aggregation, writing nothing.
 * `exact` compares as the upsert does (what a backfill would rewrite, for --dry-run);
 * `tolerant` compares the raw-derived columns as the contract does (MIN, MAX and counts exactly, AVGs and sums within a relative 1e-9,
 * for verify, which must not flag a row computed by another plan or version).
 */
export async function compareRange(
  db: Kysely<Database>,
  scope: Extract<HourScope, { kind: 'range' }>,
  timezone: string,
  mode: 'exact' | 'tolerant',
): Promise<RangeComparison> {
  const close = (column: string) =>
    `(f.${column} IS NULL AND s.${column} IS NULL OR abs(f.${column} - s.${column}) <= 1e-9 * greatest(abs(f.${column}), abs(s.${column})))`;
  const same =
    mode === 'exact'
      ? sql`(${columnList('f')}) IS NOT DISTINCT FROM (${columnList('s')})`
      : sql.raw(
          RAW_DERIVED_COLUMNS.map((column) => (FLOAT_SUM_COLUMNS.test(column) ? close(column) : `f.${column} IS NOT DISTINCT FROM s.${column}`)).join(
            ' AND ',
          ),
        );
  const { rows } = await sql<{ hours: number; raw_rows: number; stored: number; differences: HourDifference[] }>`
    WITH fresh AS MATERIALIZED (${freshHours(scope, timezone)}),
    stored AS MATERIALIZED (SELECT t.* FROM temperature t WHERE ${storedInScope(scope)}),
    diff AS (
      SELECT coalesce(f.loc_id, s.loc_id) AS loc_id,
             to_char(coalesce(f.bucket, s.bucket) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS bucket,
             CASE WHEN s.loc_id IS NULL THEN 'missing' WHEN f.loc_id IS NULL THEN 'extra' ELSE 'changed' END AS kind,
             CASE WHEN s.loc_id IS NULL THEN NULL ELSE jsonb_build_object(${sql.raw(HOURLY_ROW_COLUMNS.map((c) => `'${c}', s.${c}`).join(', '))}) END AS stored,
             CASE WHEN f.loc_id IS NULL THEN NULL ELSE jsonb_build_object(${sql.raw(HOURLY_ROW_COLUMNS.map((c) => `'${c}', f.${c}`).join(', '))}) END AS fresh,
             EXISTS (SELECT 1 FROM raw_dirty_hour m WHERE m.loc_id = coalesce(f.loc_id, s.loc_id) AND m.bucket = coalesce(f.bucket, s.bucket)) AS dirty
      FROM fresh f FULL JOIN stored s ON f.loc_id = s.loc_id AND f.bucket = s.bucket
      WHERE s.loc_id IS NULL OR f.loc_id IS NULL OR NOT (${same})
    )
    SELECT (SELECT count(*) FROM fresh) AS hours,
           (SELECT coalesce(sum(sample_count), 0) FROM fresh) AS raw_rows,
           (SELECT count(*) FROM stored) AS stored,
           coalesce((SELECT jsonb_agg(d ORDER BY d.bucket, d.loc_id) FROM diff d), '[]'::jsonb) AS differences
  `.execute(db);
  const row = rows[0] ?? { hours: 0, raw_rows: 0, stored: 0, differences: [] };
  return { hours: row.hours, rawRows: row.raw_rows, stored: row.stored, differences: row.differences };
}

/** The columns that differ between the stored and fresh values of one difference. */
export function differingColumns(difference: HourDifference): HourlyRowColumn[] {
  return RAW_DERIVED_COLUMNS.filter((column) => difference.stored?.[column] !== difference.fresh?.[column]);
}
