import { sql, type Kysely } from 'kysely';
import { CLIMATE_COLUMNS, METRICS, METRIC_AGGREGATE_COLUMNS, mktCelsius, type Database, type HourlyAggregates, type Metric } from '../../db/index.js';
import { HOUR_MS } from '../time/time-range.js';

/** A day of one location, rolled up from its hours: the same aggregate columns as an hour, and coverage. */
export interface DailyRecord extends HourlyAggregates {
  loc_id: string;
  day: string;
  ymd: string;
  start: Date;
  hours: number;
  sample_count: number;
  expected_count: number | null;
  coverage: number | null;
  /** Mean kinetic temperature of the day's readings (°C), from the hours' Arrhenius sums. */
  mkt: number | null;
}

export const DAILY_COLUMNS = [
  'loc_id',
  'day',
  'ymd',
  'start',
  'hours',
  ...METRIC_AGGREGATE_COLUMNS,
  ...CLIMATE_COLUMNS,
  'sample_count',
  'expected_count',
  'coverage',
  'mkt',
] as const;

/**
 * The climate columns of a day from its hours: dew point AVG weighted by its count, MAX of MAX,
 * excursion counts and Arrhenius sums added, largest exceedance. A column is NULL for the day
 * when an hour that has readings lacks it (frozen before migration 0004), not the value of the
 * other hours; an excursion count is NULL only when no hour had that limit in force.
 */
function climateOfDay() {
  const known = (column: string, count: string) => sql`bool_and(${sql.ref(`t.${column}`)} IS NOT NULL OR ${sql.ref(`t.${count}`)} = 0)`;
  const dewKnown = known('dew_point_count', 'sample_count');
  const sumKnown = known('temperature_arrhenius_sum', 'temperature_count');
  const arrhenius = sql`CASE WHEN ${sumKnown} THEN sum(t.temperature_arrhenius_sum) END`;
  return [
    sql<number | null>`CASE WHEN ${dewKnown} THEN sum(t.dew_point_avg * t.dew_point_count) / nullif(sum(t.dew_point_count), 0) END`.as('dew_point_avg'),
    sql<number | null>`CASE WHEN ${dewKnown} THEN max(t.dew_point_max) END`.as('dew_point_max'),
    sql<number | null>`CASE WHEN ${dewKnown} THEN sum(t.dew_point_count)::integer END`.as('dew_point_count'),
    ...CLIMATE_COLUMNS.filter((column) => column.endsWith('_count') && column !== 'dew_point_count').map((column) => sql<number | null>`sum(${sql.ref(`t.${column}`)})::integer`.as(column)),
    ...CLIMATE_COLUMNS.filter((column) => column.endsWith('_max_delta')).map((column) => sql<number | null>`max(${sql.ref(`t.${column}`)})`.as(column)),
    sql<number | null>`${arrhenius}`.as('temperature_arrhenius_sum'),
    sql<number | null>`${mktCelsius(arrhenius, sql`sum(t.temperature_count)`)}`.as('mkt'),
  ];
}

/**
 * A metric's day from its hours. AVG: each hour's AVG weighted by the metric's own count, so the
 * day's AVG is the AVG of the day's raw readings (an hour whose readings were all NULL for the
 * metric has a NULL avg and adds nothing; faulted readings do not dilute the others). An hour
 * aggregated before per-metric counts existed whose raw rows are gone (NULL count, migration
 * 0003) is weighted by its sample_count, as before; the day's MIN and count are then unknown
 * (NULL) rather than the MIN and count of the other hours.
 */
function metricOfDay(metric: Metric) {
  const column = (suffix: string) => sql.ref(`t.${metric}_${suffix}`);
  const weight = sql`coalesce(${column('count')}, t.sample_count)`;
  const known = sql`bool_and(${column('count')} IS NOT NULL)`;
  return [
    sql<number | null>`CASE WHEN ${known} THEN min(${column('min')}) END`.as(`${metric}_min`),
    sql<number | null>`max(${column('max')})`.as(`${metric}_max`),
    sql<number | null>`sum(${column('avg')} * ${weight}) FILTER (WHERE ${column('avg')} IS NOT NULL) / nullif(sum(${weight}) FILTER (WHERE ${column('avg')} IS NOT NULL), 0)`.as(
      `${metric}_avg`,
    ),
    sql<number | null>`CASE WHEN ${known} THEN sum(${column('count')})::integer END`.as(`${metric}_count`),
  ];
}

/**
 * Daily rollups of one location from the hourly table, days in `timezone`: a day is every hour
 * whose start falls on that local date, so DST days have 23 or 25 hours. `from`/`to` are the
 * starts of local days (the caller resolves them).
 *
 * expected_count of a day: the hours' mean expected_count times the day's complete hours (hours
 * without any row count as expected too, which is the point), NULL when an hour's is unknown.
 */
export function dailyQuery(db: Kysely<Database>, query: { locId: string; from: Date; to: Date; timezone: string; now: Date }) {
  // The local date is computed once in a subquery: the same expression written twice would carry
  // two bind parameters, and PostgreSQL would not see the GROUP BY and the select list as equal.
  const hours = db
    .selectFrom('temperature')
    .selectAll()
    .select(sql<string>`(bucket AT TIME ZONE ${query.timezone})::date`.as('local_day'))
    .where('loc_id', '=', query.locId)
    .where('bucket', '>=', query.from)
    .where('bucket', '<', query.to);
  const completeBefore = new Date(Math.floor(query.now.getTime() / HOUR_MS) * HOUR_MS);
  const ceilHour = (instant: ReturnType<typeof sql>) => sql`(reading_hour(${instant} - interval '1 microsecond') + interval '1 hour')`;
  const dayStart = sql`(t.local_day::timestamp AT TIME ZONE ${query.timezone})`;
  const dayEnd = sql`least((t.local_day + 1)::timestamp AT TIME ZONE ${query.timezone}, ${completeBefore}::timestamptz)`;
  const dayHours = sql<number>`greatest(extract(epoch FROM ${ceilHour(dayEnd)} - ${ceilHour(dayStart)}) / 3600, 0)`;
  const expected = sql<number | null>`CASE WHEN count(t.expected_count) = count(*) THEN round(avg(t.expected_count) * ${dayHours})::integer END`;
  return db
    .selectFrom(hours.as('t'))
    .select([
      't.loc_id',
      sql<string>`to_char(t.local_day, 'YYYY-MM-DD')`.as('day'),
      sql<string>`to_char(t.local_day, 'YYYYMMDD')`.as('ymd'),
      sql<Date>`t.local_day::timestamp AT TIME ZONE ${query.timezone}`.as('start'),
      sql<number>`count(*)::integer`.as('hours'),
      ...METRICS.flatMap(metricOfDay),
      ...climateOfDay(),
      sql<number>`sum(t.sample_count)::integer`.as('sample_count'),
      expected.as('expected_count'),
      sql<number | null>`sum(t.sample_count)::double precision / nullif(${expected}, 0)`.as('coverage'),
    ])
    .groupBy(['t.loc_id', 't.local_day'])
    .orderBy('t.local_day');
}
