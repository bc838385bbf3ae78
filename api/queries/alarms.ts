import { sql } from 'kysely';

export interface AlarmRecord {
  loc_id: string;
  bucket: Date;
  ymd: string;
  hh: string;
  metric: 'temperature' | 'humidity';
  aggregate: 'max' | 'avg';
  threshold: 'min' | 'max';
  limit: number;
  value: number;
  excess: number;
  /** Position of the check within the hour, for the page cursor. */
  k: number;
}

export const ALARM_COLUMNS = ['loc_id', 'bucket', 'ymd', 'hh', 'metric', 'aggregate', 'threshold', 'limit', 'value', 'excess'] as const;

/**
 * Hours where a location's max or avg crossed its thresholds: each hourly row is checked 8
 * ways (temperature|humidity × max|avg × above max|below min), ordered by (bucket, loc_id, k).
 */
export function alarmsQuery(
  query: { locIds: readonly string[] | undefined; from: Date; to: Date; after: { bucket: Date; locId: string; k: number } | undefined; limit: number | undefined },
) {
  const locFilter = query.locIds ? sql`AND t.loc_id = ANY(${[...query.locIds]}::text[])` : sql``;
  const afterFilter = query.after ? sql`AND (c.bucket, c.loc_id, c.k) > (${query.after.bucket}::timestamptz, ${query.after.locId}::text, ${query.after.k}::integer)` : sql``;
  const limit = query.limit !== undefined ? sql`LIMIT ${query.limit}` : sql``;
  return sql<AlarmRecord>`
    SELECT c.loc_id, c.bucket, c.ymd, c.hh, c.metric, c.aggregate, c.threshold, c."limit", c.value, abs(c.value - c."limit") AS excess, c.k
    FROM (
      SELECT t.loc_id, t.bucket, t.ymd, t.hh, v.k, v.metric, v.aggregate, v.threshold, v."limit", v.value
      FROM temperature t
      JOIN location l ON l.loc_id = t.loc_id
      CROSS JOIN LATERAL (VALUES
        (1, 'temperature', 'max', 'max', l.temperature_max, t.temperature_max),
        (2, 'temperature', 'avg', 'max', l.temperature_max, t.temperature_avg),
        (3, 'temperature', 'max', 'min', l.temperature_min, t.temperature_max),
        (4, 'temperature', 'avg', 'min', l.temperature_min, t.temperature_avg),
        (5, 'humidity', 'max', 'max', l.humidity_max, t.humidity_max),
        (6, 'humidity', 'avg', 'max', l.humidity_max, t.humidity_avg),
        (7, 'humidity', 'max', 'min', l.humidity_min, t.humidity_max),
        (8, 'humidity', 'avg', 'min', l.humidity_min, t.humidity_avg)
      ) AS v(k, metric, aggregate, threshold, "limit", value)
      WHERE t.bucket >= ${query.from}::timestamptz AND t.bucket < ${query.to}::timestamptz
        AND l.active
        AND v."limit" IS NOT NULL AND v.value IS NOT NULL
        AND ((v.threshold = 'max' AND v.value > v."limit") OR (v.threshold = 'min' AND v.value < v."limit"))
        ${locFilter}
    ) AS c
    WHERE true ${afterFilter}
    ORDER BY c.bucket, c.loc_id, c.k
    ${limit}
  `;
}
