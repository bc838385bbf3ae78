import { sql } from 'kysely';
import { EXCURSION_KINDS, type LimitedMetric } from '../../db/index.js';

export interface AlarmRecord {
  loc_id: string;
  bucket: Date;
  ymd: string;
  hh: string;
  metric: LimitedMetric;
  threshold: 'min' | 'max';
  readings: number;
  minutes: number | null;
  excess: number;
  /** Position of the check within the hour, for the page cursor. */
  k: number;
}

export const ALARM_COLUMNS = ['loc_id', 'bucket', 'ymd', 'hh', 'metric', 'threshold', 'readings', 'minutes', 'excess'] as const;

/** One row per limit (k, metric, threshold, the hour's count, its largest exceedance), in EXCURSION_KINDS's order. */
const EXCURSION_VALUES = sql.join(
  EXCURSION_KINDS.map(
    (kind, index) =>
      sql`(${sql.lit(index + 1)}, ${sql.lit(kind.metric)}, ${sql.lit(kind.direction === 'above' ? 'max' : 'min')}, ${sql.ref(`t.${kind.countColumn}`)}, ${sql.ref(`t.${kind.maxDeltaColumn}`)})`,
  ),
);

/**
 * Hours with excursions: the hourly excursion counts (readings strictly beyond a limit of the
 * threshold version in force at each reading, db/hourly-row.ts), the same definition as the
 * excursions endpoint, one row per hour and limit crossed, ordered by (bucket, loc_id, k).
 */
export function alarmsQuery(
  query: { locIds: readonly string[] | undefined; from: Date; to: Date; after: { bucket: Date; locId: string; k: number } | undefined; limit: number | undefined },
) {
  const locFilter = query.locIds ? sql`AND t.loc_id = ANY(${[...query.locIds]}::text[])` : sql``;
  const afterFilter = query.after ? sql`AND (c.bucket, c.loc_id, c.k) > (${query.after.bucket}::timestamptz, ${query.after.locId}::text, ${query.after.k}::integer)` : sql``;
  const limit = query.limit !== undefined ? sql`LIMIT ${query.limit}` : sql``;
  return sql<AlarmRecord>`
    SELECT c.loc_id, c.bucket, c.ymd, c.hh, c.metric, c.threshold, c.readings, c.readings * 60.0 / c.expected_count AS minutes, c.excess, c.k
    FROM (
      SELECT t.loc_id, t.bucket, t.ymd, t.hh, t.expected_count, v.k, v.metric, v.threshold, v.readings, v.excess
      FROM temperature t
      LEFT JOIN location l ON l.loc_id = t.loc_id
      CROSS JOIN LATERAL (VALUES ${EXCURSION_VALUES}) AS v(k, metric, threshold, readings, excess)
      WHERE t.bucket >= ${query.from}::timestamptz AND t.bucket < ${query.to}::timestamptz
        AND coalesce(l.active, true)
        AND v.readings > 0
        ${locFilter}
    ) AS c
    WHERE true ${afterFilter}
    ORDER BY c.bucket, c.loc_id, c.k
    ${limit}
  `;
}
