import { sql, type Kysely, type RawBuilder } from 'kysely';
import { HOURLY_AGGREGATE_COLUMNS, METRICS, type Database } from '../db/index.js';

/**
 * The hourly rollup: the one place that says what an hourly row is. Everything runs inside
 * PostgreSQL; Node only passes the scope (a time range or a list of (location, hour) pairs) and
 * reads back counts.
 *
 * An hourly row is, per (loc_id, reading_hour(capture_dt)): MAX and AVG of each metric (both
 * ignore NULLs, so an all-NULL metric is NULL) and the number of readings. AVG is summed as
 * `numeric`, which is exact, and cast back to double precision: the result no longer depends on
 * the order in which the plan feeds rows to the aggregate, so recomputing an unchanged hour gives
 * bit-identical values and the `IS DISTINCT FROM` guard leaves the row alone (same xmin).
 * (`double precision` to `numeric` keeps 15 significant digits, far inside the contract's 1e-9.)
 * The price: PostgreSQL converts each value to numeric through a decimal string, which makes
 * the aggregation ~4x slower than a float AVG (bench/results/aggregator.md); exactness was preferred.
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

export const HOURLY_VALUE_COLUMNS = ['ymd', 'hh', ...HOURLY_AGGREGATE_COLUMNS, 'sample_count'] as const;
export type HourlyValueColumn = (typeof HOURLY_VALUE_COLUMNS)[number];

const AGGREGATES = sql.raw(
  [
    ...METRICS.flatMap((metric) => [
      `max(r.${metric}) AS ${metric}_max`,
      `avg(r.${metric}::numeric)::double precision AS ${metric}_avg`,
    ]),
    'count(*)::integer AS sample_count',
  ].join(',\n      '),
);

const columnList = (alias: string) => sql.raw(HOURLY_VALUE_COLUMNS.map((column) => `${alias}.${column}`).join(', '));

function hourArrays(hours: readonly DirtyHour[]): { locIds: string[]; buckets: string[] } {
  return { locIds: hours.map((hour) => hour.loc_id), buckets: hours.map((hour) => hour.bucket.toISOString()) };
}

/**
 * The fresh aggregation of the scope's raw rows, one row per hour that has readings, with the
 * columns of the hourly table. A range is one GROUP BY over the capture_dt range (BRIN, or the
 * primary key with a location); a list of hours is one primary-key range scan per hour.
 */
function freshHours(scope: HourScope, timezone: string): RawBuilder<unknown> {
  const local = (bucket: RawBuilder<unknown>) => sql`
      to_char(${bucket} AT TIME ZONE ${timezone}, 'YYYYMMDD') AS ymd,
      to_char(${bucket} AT TIME ZONE ${timezone}, 'HH24') AS hh`;
  if (scope.kind === 'range') {
    return sql`
    SELECT r.loc_id, reading_hour(r.capture_dt) AS bucket, ${local(sql`reading_hour(r.capture_dt)`)},
      ${AGGREGATES}
    FROM temperature_raw r
    WHERE r.capture_dt >= ${scope.from} AND r.capture_dt < ${scope.to}
      ${scope.locId === undefined ? sql`` : sql`AND r.loc_id = ${scope.locId}`}
    GROUP BY r.loc_id, reading_hour(r.capture_dt)`;
  }
  const { locIds, buckets } = hourArrays(scope.hours);
  return sql`
    SELECT p.loc_id, p.bucket, ${local(sql`p.bucket`)}, agg.*
    FROM unnest(${locIds}::text[], ${buckets}::timestamptz[]) AS p(loc_id, bucket)
    CROSS JOIN LATERAL (
      SELECT ${AGGREGATES}
      FROM temperature_raw r
      WHERE r.loc_id = p.loc_id AND r.capture_dt >= p.bucket AND r.capture_dt < p.bucket + interval '1 hour'
    ) AS agg
    WHERE agg.sample_count > 0`;
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
      INSERT INTO temperature AS t (loc_id, bucket, ${sql.raw(HOURLY_VALUE_COLUMNS.join(', '))}, updated_at)
      SELECT f.loc_id, f.bucket, ${columnList('f')}, now() FROM fresh f
      ON CONFLICT (loc_id, bucket) DO UPDATE SET
        ${sql.raw(HOURLY_VALUE_COLUMNS.map((column) => `${column} = excluded.${column}`).join(', '))},
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

export type DifferenceKind = 'missing' | 'extra' | 'changed';

/** One hour where the stored row is not what the raw rows give. Values as JSON (null when absent). */
export interface HourDifference {
  readonly loc_id: string;
  /** ISO 8601 UTC. */
  readonly bucket: string;
  readonly kind: DifferenceKind;
  readonly stored: Partial<Record<HourlyValueColumn, string | number | null>> | null;
  readonly fresh: Partial<Record<HourlyValueColumn, string | number | null>> | null;
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
 * `tolerant` compares as the contract does (MAX and counts exactly, AVG within a relative 1e-9,
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
          HOURLY_VALUE_COLUMNS.map((column) => (column.endsWith('_avg') ? close(column) : `f.${column} IS NOT DISTINCT FROM s.${column}`)).join(
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
             CASE WHEN s.loc_id IS NULL THEN NULL ELSE jsonb_build_object(${sql.raw(HOURLY_VALUE_COLUMNS.map((c) => `'${c}', s.${c}`).join(', '))}) END AS stored,
             CASE WHEN f.loc_id IS NULL THEN NULL ELSE jsonb_build_object(${sql.raw(HOURLY_VALUE_COLUMNS.map((c) => `'${c}', f.${c}`).join(', '))}) END AS fresh
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
export function differingColumns(difference: HourDifference): HourlyValueColumn[] {
  return HOURLY_VALUE_COLUMNS.filter((column) => difference.stored?.[column] !== difference.fresh?.[column]);
}
