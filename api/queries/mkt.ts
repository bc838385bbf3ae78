import { sql, type Kysely } from 'kysely';
import { MKT_DELTA_H, arrheniusTerm, mktCelsius, type Database } from '../../db/index.js';
import { HOUR_MS } from '../time/time-range.js';

/**
 * Mean kinetic temperature of a location over [from, to): (ΔH/R) / −ln(Σ e^(−ΔH/(R·T_i)) / n).
 *
 * With the default ΔH the sums come from the hourly rows (`temperature_arrhenius_sum`, exact
 * per hour) for every complete hour inside the range, and from raw readings only for the parts
 * of hours at its edges, the current hour, and hours marked dirty (not yet re-aggregated). Any other ΔH needs every reading again: the whole
 * range is read from raw. When the readings a part needs are gone (raw retention) or an hour
 * lacks its sum (frozen before migration 0004), there is no exact answer: `incomplete` says
 * which part, and the route answers 422 rather than a number over part of the range.
 */

export interface MktResult {
  mkt: number | null;
  readings: number;
  /** Hourly rows whose sums were used. */
  hours: number;
  source: 'hourly' | 'raw' | 'hourly+raw';
  /** Why no exact value exists, when it does not. */
  incomplete: string | undefined;
}

const ceilHour = (at: Date) => new Date(Math.ceil(at.getTime() / HOUR_MS) * HOUR_MS);
const floorHour = (at: Date) => new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);

export async function meanKineticTemperature(
  db: Kysely<Database>,
  query: { locId: string; from: Date; to: Date; deltaH: number; now: Date; frozenBefore: Date | undefined },
): Promise<MktResult> {
  const useHours = query.deltaH === MKT_DELTA_H;
  // Complete stored hours inside the range (none when it lies within one hour, or ΔH differs).
  const hoursFrom = ceilHour(query.from);
  const hoursTo = new Date(Math.min(floorHour(query.to).getTime(), floorHour(query.now).getTime()));
  const hourly = useHours && hoursFrom < hoursTo;
  const rawParts: [Date, Date][] = hourly
    ? [
        [query.from, hoursFrom],
        [hoursTo, query.to],
      ].filter(([from, to]) => from < to) as [Date, Date][]
    : [[query.from, query.to]];
  const pruned = rawParts.find(([from]) => query.frozenBefore !== undefined && from < query.frozenBefore);
  if (pruned && query.frozenBefore) {
    return {
      mkt: null,
      readings: 0,
      hours: 0,
      source: hourly ? 'hourly+raw' : 'raw',
      incomplete: useHours
        ? `raw readings before ${query.frozenBefore.toISOString()} were pruned (RAW_RETENTION) and the range starts inside an hour before then: start it on a whole hour`
        : `raw readings before ${query.frozenBefore.toISOString()} were pruned (RAW_RETENTION); delta_h ${query.deltaH / 1000} kJ/mol is not the stored 83.144 kJ/mol, ` +
          `so every reading of the range is needed: use the default delta_h, or a range from ${query.frozenBefore.toISOString()}`,
    };
  }
  const edges = rawParts.length > 0 ? sql.join(rawParts.map(([from, to]) => sql`(capture_dt >= ${from} AND capture_dt < ${to})`), sql` OR `) : sql`false`;
  // Complete hours whose stored row is not (yet) what their raw rows give (marked dirty: late
  // readings, a threshold change, not aggregated since the last run) are read from raw too.
  // Marks before the retention horizon do not count: those hours are frozen, their rows final.
  const pending = hourly
    ? sql`SELECT bucket FROM raw_dirty_hour WHERE loc_id = ${query.locId} AND bucket >= ${hoursFrom} AND bucket < ${hoursTo}
          ${query.frozenBefore ? sql`AND bucket >= ${query.frozenBefore}` : sql``}`
    : sql`SELECT NULL::timestamptz AS bucket WHERE false`;
  const { rows } = await sql<{ mkt: number | null; readings: number; hours: number; missing: number; first_missing: Date | null; pending: number }>`
    WITH pending AS MATERIALIZED (${pending}),
    parts AS (
      SELECT sum(temperature_arrhenius_sum::numeric) AS sum, coalesce(sum(temperature_count), 0) AS readings, count(*) AS hours,
             count(*) FILTER (WHERE temperature_arrhenius_sum IS NULL AND coalesce(temperature_count, 1) > 0) AS missing,
             min(bucket) FILTER (WHERE temperature_arrhenius_sum IS NULL AND coalesce(temperature_count, 1) > 0) AS first_missing
      FROM temperature
      WHERE ${hourly ? sql`loc_id = ${query.locId} AND bucket >= ${hoursFrom} AND bucket < ${hoursTo}` : sql`false`}
        AND bucket NOT IN (SELECT bucket FROM pending)
      UNION ALL
      SELECT sum((${arrheniusTerm(sql`temperature`, query.deltaH)})::numeric), count(temperature), 0, 0, NULL
      FROM temperature_raw
      WHERE loc_id = ${query.locId}
        AND (${edges} OR (capture_dt >= ${hoursFrom} AND capture_dt < ${hoursTo} AND reading_hour(capture_dt) IN (SELECT bucket FROM pending)))
    )
    SELECT ${mktCelsius(sql`sum(sum)`, sql`sum(readings)`, query.deltaH)} AS mkt, sum(readings)::bigint AS readings, sum(hours)::int AS hours,
           sum(missing)::int AS missing, min(first_missing) AS first_missing, (SELECT count(*) FROM pending)::int AS pending
    FROM parts`.execute(db);
  const row = rows[0] ?? { mkt: null, readings: 0, hours: 0, missing: 0, first_missing: null, pending: 0 };
  const source = !hourly ? 'raw' : rawParts.length > 0 || row.pending > 0 ? 'hourly+raw' : 'hourly';
  if (row.missing > 0) {
    return {
      mkt: null,
      readings: row.readings,
      hours: row.hours,
      source,
      incomplete:
        `${row.missing} hour(s) from ${row.first_missing?.toISOString() ?? '?'} have no Arrhenius sum (aggregated before migration 0004, raw readings pruned): ` +
        'choose a range after them',
    };
  }
  return { mkt: row.mkt, readings: row.readings, hours: row.hours, source, incomplete: undefined };
}
