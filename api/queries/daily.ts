import { sql, type Kysely } from 'kysely';
import { HOURLY_AGGREGATE_COLUMNS, type Database, type HourlyAggregates, type Metric } from '../../db/index.js';

/** A day of one location, rolled up from its hours: the same aggregate columns as an hour. */
export interface DailyRecord extends HourlyAggregates {
  loc_id: string;
  day: string;
  ymd: string;
  start: Date;
  hours: number;
  sample_count: number;
}

export const DAILY_COLUMNS = ['loc_id', 'day', 'ymd', 'start', 'hours', ...HOURLY_AGGREGATE_COLUMNS, 'sample_count'] as const;

// AVG of a day weighted by each hour's sample_count, over the hours where the metric has a value
// (an hour whose readings were all NULL for it has a NULL avg and adds nothing).
const weightedAvg = (metric: Metric) => {
  const avg = sql.ref(`t.${metric}_avg`);
  return sql<number | null>`sum(${avg} * t.sample_count) FILTER (WHERE ${avg} IS NOT NULL) / nullif(sum(t.sample_count) FILTER (WHERE ${avg} IS NOT NULL), 0)`;
};

/**
 * Daily rollups of one location from the hourly table, days in `timezone`: a day is every hour
 * whose start falls on that local date, so DST days have 23 or 25 hours. `from`/`to` are the
 * starts of local days (the caller resolves them).
 */
export function dailyQuery(db: Kysely<Database>, query: { locId: string; from: Date; to: Date; timezone: string }) {
  // The local date is computed once in a subquery: the same expression written twice would carry
  // two bind parameters, and PostgreSQL would not see the GROUP BY and the select list as equal.
  const hours = db
    .selectFrom('temperature')
    .selectAll()
    .select(sql<string>`(bucket AT TIME ZONE ${query.timezone})::date`.as('local_day'))
    .where('loc_id', '=', query.locId)
    .where('bucket', '>=', query.from)
    .where('bucket', '<', query.to);
  return db
    .selectFrom(hours.as('t'))
    .select((eb) => [
      't.loc_id',
      sql<string>`to_char(t.local_day, 'YYYY-MM-DD')`.as('day'),
      sql<string>`to_char(t.local_day, 'YYYYMMDD')`.as('ymd'),
      sql<Date>`t.local_day::timestamp AT TIME ZONE ${query.timezone}`.as('start'),
      sql<number>`count(*)::integer`.as('hours'),
      eb.fn.max('t.temperature_max').as('temperature_max'),
      weightedAvg('temperature').as('temperature_avg'),
      eb.fn.max('t.humidity_max').as('humidity_max'),
      weightedAvg('humidity').as('humidity_avg'),
      eb.fn.max('t.pcv_temperature_max').as('pcv_temperature_max'),
      weightedAvg('pcv_temperature').as('pcv_temperature_avg'),
      sql<number>`sum(t.sample_count)::integer`.as('sample_count'),
    ])
    .groupBy(['t.loc_id', 't.local_day'])
    .orderBy('t.local_day');
}
