import { sql, type RawBuilder } from 'kysely';
import { THRESHOLD_SPANS } from './location-thresholds.js';
import { EXCURSION_KINDS, HOURLY_AGGREGATE_COLUMNS, METRICS } from './schema.js';

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

/** ΔH of the stored Arrhenius sums (J/mol), the default of the mean kinetic temperature (USP <1079.4>). */
export const MKT_DELTA_H = 83_144;
/** The molar gas constant R (J/(mol·K)), CODATA 2018 exact. */
export const GAS_CONSTANT = 8.314462618;
/** 0 °C in kelvin. */
export const ZERO_CELSIUS_K = 273.15;

/**
 * exp(−ΔH / (R·T)) of a reading, T in kelvin. Below ~14.1 K the result is under the smallest
 * double and PostgreSQL's exp() raises an underflow error instead of returning 0: such a reading
 * contributes 0, the value a double would hold anyway.
 */
export function arrheniusTerm(celsius: RawBuilder<unknown>, deltaH: RawBuilder<unknown> | number = MKT_DELTA_H): RawBuilder<number | null> {
  const ratio = sql`(${deltaH}::double precision / (${GAS_CONSTANT} * (${celsius} + ${ZERO_CELSIUS_K})))`;
  return sql<number | null>`CASE WHEN ${celsius} IS NULL THEN NULL WHEN ${ratio} BETWEEN 0 AND 708 THEN exp(-${ratio}) ELSE 0 END`;
}

/**
 * The mean kinetic temperature (°C) of readings whose Arrhenius terms for `deltaH` sum to `sum`
 * over `count` readings: (ΔH/R) / −ln(sum/count) in kelvin. NULL without readings.
 */
export function mktCelsius(sum: RawBuilder<unknown>, count: RawBuilder<unknown>, deltaH: RawBuilder<unknown> | number = MKT_DELTA_H): RawBuilder<number | null> {
  return sql<number | null>`CASE WHEN ${count} > 0 AND ${sum} > 0
    THEN (${deltaH}::double precision / ${GAS_CONSTANT}) / -ln((${sum})::double precision / (${count})::double precision) - ${ZERO_CELSIUS_K} END`;
}

/**
 * Dew point (°C) by the Magnus formula, a = 17.625, b = 243.04 °C: γ = ln(RH/100) + a·T/(b+T),
 * Td = b·γ/(a−γ). NULL when either value is NULL, at RH ≤ 0 % (no dew point: the logarithm
 * diverges) and at T ≤ −b (outside the formula).
 */
const MAGNUS_GAMMA = 'CASE WHEN r.humidity > 0 AND r.temperature > -243.04 THEN ln(r.humidity / 100) + 17.625 * r.temperature / (243.04 + r.temperature) END';
const DEW_POINT = 'CASE WHEN g.gamma < 17.625 THEN 243.04 * g.gamma / (17.625 - g.gamma) END';

/**
 * The raw rows of `where` (over `temperature_raw r`) as the aggregates read them: the readings,
 * their dew point, and the limits of the threshold version in force at capture_dt (NULL when
 * none). `spans` is THRESHOLD_SPANS under the name the caller gave it.
 */
function readings(where: RawBuilder<unknown>): RawBuilder<unknown> {
  // OFFSET 0 keeps each level a subquery of its own: PostgreSQL would otherwise pull it up and
  // copy the expression into every aggregate that reads it (γ and the dew point three times
  // each, every logarithm of a reading computed nine times; bench/aggregator-climate-columns.ts).
  return sql`
    SELECT g.loc_id, g.capture_dt, g.temperature, g.humidity, g.pcv_temperature, ${sql.raw(DEW_POINT)} AS dew_point,
           g.temperature_min_limit, g.temperature_max_limit, g.humidity_min_limit, g.humidity_max_limit
    FROM (
      SELECT r.loc_id, r.capture_dt, r.temperature, r.humidity, r.pcv_temperature, ${sql.raw(MAGNUS_GAMMA)} AS gamma,
             s.temperature_min AS temperature_min_limit, s.temperature_max AS temperature_max_limit,
             s.humidity_min AS humidity_min_limit, s.humidity_max AS humidity_max_limit
      FROM temperature_raw r
      LEFT JOIN spans s ON s.loc_id = r.loc_id AND r.capture_dt >= s.valid_from AND r.capture_dt < s.valid_to
      WHERE ${where}
      OFFSET 0
    ) AS g
    OFFSET 0`;
}

const METRIC_AGGREGATES = METRICS.flatMap((metric): [string, string][] => [
  [`${metric}_min`, `min(r.${metric})`],
  [`${metric}_max`, `max(r.${metric})`],
  [`${metric}_avg`, `avg(r.${metric}::numeric)::double precision`],
  [`${metric}_count`, `count(r.${metric})::integer`],
]);

/**
 * Per limit: readings strictly beyond it (NULL when no reading of the hour had that limit in
 * force) and the largest exceedance (NULL when none exceeded it).
 */
const EXCURSION_AGGREGATES = EXCURSION_KINDS.flatMap(({ metric, direction, limit, countColumn, maxDeltaColumn }): [string, string][] => {
  const bound = `r.${limit}_limit`;
  const beyond = direction === 'above' ? `r.${metric} > ${bound}` : `r.${metric} < ${bound}`;
  const delta = direction === 'above' ? `r.${metric} - ${bound}` : `${bound} - r.${metric}`;
  return [
    [countColumn, `CASE WHEN count(${bound}) > 0 THEN (count(*) FILTER (WHERE ${beyond}))::integer END`],
    [maxDeltaColumn, `max(${delta}) FILTER (WHERE ${beyond})`],
  ];
});

/**
 * Dew point and the Arrhenius sum are summed as numeric like the AVGs, so the stored value does
 * not depend on the plan's order (each term is a deterministic double).
 */
const CLIMATE_AGGREGATES: [string, string][] = [
  ['dew_point_avg', 'avg(r.dew_point::numeric)::double precision'],
  ['dew_point_max', 'max(r.dew_point)'],
  ['dew_point_count', 'count(r.dew_point)::integer'],
  ...EXCURSION_AGGREGATES,
];

/** The aggregate select list over `readings()` aliased `r`: every aggregate column and sample_count. */
const AGGREGATES = new Map<string, RawBuilder<unknown>>([
  ...[...METRIC_AGGREGATES, ...CLIMATE_AGGREGATES].map(([column, expression]): [string, RawBuilder<unknown>] => [column, sql.raw(expression)]),
  ['temperature_arrhenius_sum', sql`sum((${arrheniusTerm(sql.raw('r.temperature'))})::numeric)::double precision`],
]);
export const HOURLY_AGGREGATES_OF_RAW: RawBuilder<unknown> = sql.join(
  [...HOURLY_AGGREGATE_COLUMNS.map((column) => sql`${AGGREGATES.get(column)} AS ${sql.ref(column)}`), sql`count(*)::integer AS sample_count`],
  sql`,
      `,
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
  const where = sql`r.capture_dt >= ${range.from} AND r.capture_dt < ${range.to}
      ${range.locIds === undefined ? sql`` : sql`AND r.loc_id = ANY(${[...range.locIds]}::text[])`}`;
  return sql`
    WITH spans AS MATERIALIZED (${THRESHOLD_SPANS})
    SELECT r.loc_id, reading_hour(r.capture_dt) AS bucket, ${plantLocalHour(sql`reading_hour(r.capture_dt)`, range.timezone)},
      ${HOURLY_AGGREGATES_OF_RAW}
    FROM (${readings(where)}) AS r
    GROUP BY r.loc_id, reading_hour(r.capture_dt)`;
}

/** The hourly rows of the given (loc_id, hour) pairs that have readings: one primary-key range scan per hour. */
export function hourlyRowsOfHours(hours: { locIds: readonly string[]; buckets: readonly string[] }, timezone: string): RawBuilder<unknown> {
  return sql`
    WITH spans AS MATERIALIZED (${THRESHOLD_SPANS})
    SELECT p.loc_id, p.bucket, ${plantLocalHour(sql`p.bucket`, timezone)}, agg.*
    FROM unnest(${[...hours.locIds]}::text[], ${[...hours.buckets]}::timestamptz[]) AS p(loc_id, bucket)
    CROSS JOIN LATERAL (
      SELECT ${HOURLY_AGGREGATES_OF_RAW}
      FROM (${readings(sql`r.loc_id = p.loc_id AND r.capture_dt >= p.bucket AND r.capture_dt < p.bucket + interval '1 hour'`)}) AS r
    ) AS agg
    WHERE agg.sample_count > 0`;
}

/** An hour start as the API writes it: ISO 8601 UTC with milliseconds. */
export function isoHour(bucket: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`to_char(${bucket} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * The select list of a stored hourly row (`alias` over `temperature` or `temperature_history`)
 * as its JSON fields: the key, the bucket in the API's format, and HOURLY_ROW_COLUMNS. The change
 * feed, the history route and the tests that rebuild the table from the feed all use it, so a
 * row means the same everywhere.
 */
export function hourlyRowFields(alias: string): RawBuilder<unknown> {
  return sql`${sql.ref(`${alias}.loc_id`)} AS loc_id, ${isoHour(sql.ref(`${alias}.bucket`))} AS bucket,
    ${sql.raw(HOURLY_ROW_COLUMNS.map((column) => `${alias}.${column}`).join(', '))}`;
}
