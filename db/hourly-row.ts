import { sql, type RawBuilder } from 'kysely';
import { HOURLY_AGGREGATE_COLUMNS, METRICS } from './schema.js';

/**
 * What an hourly row is: the one definition, used by the aggregator's rollup (which stores it)
 * and by the API's partial current hour (which computes it at query time). Everything runs in
 * PostgreSQL; these functions only build the SQL.
 *
 * Per (loc_id, reading_hour(capture_dt)), for each metric: MIN, MAX and AVG over the readings
 * where the metric is not NULL (all-NULL gives NULL) and `m_count`, the number of such readings;
 * `sample_count` is the number of readings. AVG is summed as `numeric`, which is exact, and cast
 * back to double precision: the result does not depend on the order in which the plan feeds rows
 * to the aggregate, so recomputing an unchanged hour gives bit-identical values and the
 * aggregator's `IS DISTINCT FROM` guard leaves the row alone (same xmin). (`double precision` to
 * `numeric` keeps 15 significant digits, far inside the contract's 1e-9.) The price: PostgreSQL
 * converts each value to numeric through a decimal string, which makes the aggregation ~4x slower
 * than a float AVG (bench/results/aggregator.md); exactness was preferred.
 *
 * `expected_count` is not a function of the raw rows: it is what the location's devices should
 * have produced in an hour, 3600 s / poll interval summed over the location's devices, NULL
 * when a device's interval is unknown (a collector older than migration 0003) or there are none.
 */

/** The value columns of an hourly row (what the aggregator writes besides the key and updated_at). */
export const HOURLY_ROW_COLUMNS = ['ymd', 'hh', ...HOURLY_AGGREGATE_COLUMNS, 'sample_count', 'expected_count'] as const;
export type HourlyRowColumn = (typeof HOURLY_ROW_COLUMNS)[number];
/** The columns that are a pure function of the raw rows (what verify compares). */
export const RAW_DERIVED_COLUMNS = HOURLY_ROW_COLUMNS.filter((column) => column !== 'expected_count');

const METRIC_AGGREGATES = METRICS.flatMap((metric) => [
  [`${metric}_min`, `min(r.${metric})`],
  [`${metric}_max`, `max(r.${metric})`],
  [`${metric}_avg`, `avg(r.${metric}::numeric)::double precision`],
  [`${metric}_count`, `count(r.${metric})::integer`],
]);

/** The aggregate select list over raw rows aliased `r`: every aggregate column and sample_count. */
export const HOURLY_AGGREGATES_OF_RAW: RawBuilder<unknown> = sql.raw(
  [...METRIC_AGGREGATES.map(([column, expression]) => `${expression} AS ${column}`), 'count(*)::integer AS sample_count'].join(',\n      '),
);

/** `ymd` and `hh` of an hour start in the plant's time zone. */
export function plantLocalHour(bucket: RawBuilder<unknown>, timezone: string): RawBuilder<unknown> {
  return sql`to_char(${bucket} AT TIME ZONE ${timezone}, 'YYYYMMDD') AS ymd, to_char(${bucket} AT TIME ZONE ${timezone}, 'HH24') AS hh`;
}

/** The readings a location's devices should produce in an hour, from `device.poll_interval_ms`; NULL when unknown. */
export function expectedCountOf(locId: RawBuilder<unknown>): RawBuilder<number | null> {
  return sql<number | null>`(
    SELECT CASE WHEN count(*) = count(d.poll_interval_ms) THEN nullif(round(sum(3600000.0 / d.poll_interval_ms)), 0)::integer END
    FROM device d WHERE d.loc_id = ${locId})`;
}

/**
 * The hourly rows of the raw rows in [from, to), one per (loc_id, hour) that has readings: key
 * columns (loc_id, bucket), ymd/hh, the aggregates and sample_count; expected_count is the
 * caller's (stored rows keep the one of their first aggregation). One GROUP BY over the capture_dt
 * range (BRIN, or the primary key with a location).
 */
export function hourlyRowsInRange(range: { from: Date; to: Date; locIds?: readonly string[] | undefined; timezone: string }): RawBuilder<unknown> {
  return sql`
    SELECT r.loc_id, reading_hour(r.capture_dt) AS bucket, ${plantLocalHour(sql`reading_hour(r.capture_dt)`, range.timezone)},
      ${HOURLY_AGGREGATES_OF_RAW}
    FROM temperature_raw r
    WHERE r.capture_dt >= ${range.from} AND r.capture_dt < ${range.to}
      ${range.locIds === undefined ? sql`` : sql`AND r.loc_id = ANY(${[...range.locIds]}::text[])`}
    GROUP BY r.loc_id, reading_hour(r.capture_dt)`;
}

/** The hourly rows of the given (loc_id, hour) pairs that have readings: one primary-key range scan per hour. */
export function hourlyRowsOfHours(hours: { locIds: readonly string[]; buckets: readonly string[] }, timezone: string): RawBuilder<unknown> {
  return sql`
    SELECT p.loc_id, p.bucket, ${plantLocalHour(sql`p.bucket`, timezone)}, agg.*
    FROM unnest(${[...hours.locIds]}::text[], ${[...hours.buckets]}::timestamptz[]) AS p(loc_id, bucket)
    CROSS JOIN LATERAL (
      SELECT ${HOURLY_AGGREGATES_OF_RAW}
      FROM temperature_raw r
      WHERE r.loc_id = p.loc_id AND r.capture_dt >= p.bucket AND r.capture_dt < p.bucket + interval '1 hour'
    ) AS agg
    WHERE agg.sample_count > 0`;
}
