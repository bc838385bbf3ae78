import { sql, type Kysely } from 'kysely';
import { EXCURSION_KINDS, THRESHOLD_SPANS, expectedCountOf, type Database, type ExcursionDirection, type LimitedMetric } from '../../db/index.js';

/**
 * Excursions: readings strictly beyond a limit of the threshold version in force at their
 * capture_dt (the definition of the hourly `*_above_count` / `*_below_count`, db/hourly-row.ts).
 *
 * An event is a run of consecutive out-of-limit readings of one kind (temperature above its max,
 * …), across hour boundaries. A run ends at the first reading that is not beyond the limit (or
 * lacks the value), and at a gap: two readings further apart than 1.5 expected intervals (half an
 * interval of tolerance for polling jitter). A missing stretch is never counted as time out of
 * limits. Minutes are readings × the expected interval.
 *
 * The expected interval is the location's: 3600 s / the readings its devices should produce per
 * hour (device.poll_interval_ms). Without devices (data imported from elsewhere) it is the median
 * spacing of the location's readings in the range, and the answer says so.
 */

export interface ExcursionEvent {
  metric: LimitedMetric;
  direction: ExcursionDirection;
  start: Date;
  /** capture_dt of the last reading of the run. */
  end: Date;
  readings: number;
  minutes: number;
  /** The most extreme value of the run, when, and how far past the limit then in force. */
  peak: number;
  peak_at: Date;
  peak_delta: number;
  limit: number;
  /** Position of the kind in EXCURSION_KINDS, from 1, for the page cursor. */
  k: number;
}

export interface ExcursionInterval {
  readonly intervalMs: number | null;
  readonly source: 'devices' | 'observed' | null;
}

/** The expected interval between a location's readings (see above). */
export async function expectedInterval(db: Kysely<Database>, locId: string, range: { from: Date; to: Date }): Promise<ExcursionInterval> {
  const { rows } = await sql<{ devices: number | null; observed: number | null }>`
    SELECT 3600000.0 / ${expectedCountOf(sql`${locId}::text`)} AS devices,
      (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) FROM (
         SELECT extract(epoch FROM capture_dt - lag(capture_dt) OVER (ORDER BY capture_dt)) * 1000 AS d
         FROM temperature_raw WHERE loc_id = ${locId} AND capture_dt >= ${range.from} AND capture_dt < ${range.to}) AS s
       WHERE d IS NOT NULL) AS observed`.execute(db);
  const row = rows[0];
  if (row?.devices != null) return { intervalMs: Number(row.devices), source: 'devices' };
  if (row?.observed != null) return { intervalMs: Number(row.observed), source: 'observed' };
  return { intervalMs: null, source: null };
}

/** Excursion events of one location with readings in [from, to), ordered by (start, kind), after a cursor. */
export async function excursionEvents(
  db: Kysely<Database>,
  query: { locId: string; from: Date; to: Date; intervalMs: number; after: { start: Date; k: number } | undefined; limit: number },
): Promise<ExcursionEvent[]> {
  const gapMs = 1.5 * query.intervalMs;
  const after = query.after ? sql`WHERE (e.start, e.k) > (${query.after.start}::timestamptz, ${query.after.k}::integer)` : sql``;
  const { rows } = await sql<ExcursionEvent>`
    WITH spans AS MATERIALIZED (${THRESHOLD_SPANS}),
    readings AS (
      SELECT r.capture_dt, x.k, x.metric, x.direction, x.value, x."limit",
             coalesce(CASE x.direction WHEN 'above' THEN x.value > x."limit" ELSE x.value < x."limit" END, false) AS beyond
      FROM temperature_raw r
      LEFT JOIN spans s ON s.loc_id = r.loc_id AND r.capture_dt >= s.valid_from AND r.capture_dt < s.valid_to
      CROSS JOIN LATERAL (VALUES ${sql.join(
        EXCURSION_KINDS.map(
          (kind, index) => sql`(${sql.lit(index + 1)}, ${sql.lit(kind.metric)}, ${sql.lit(kind.direction)}, ${sql.ref(`r.${kind.metric}`)}, ${sql.ref(`s.${kind.limit}`)})`,
        ),
      )}) AS x(k, metric, direction, value, "limit")
      WHERE r.loc_id = ${query.locId} AND r.capture_dt >= ${query.from} AND r.capture_dt < ${query.to}
    ),
    marked AS (
      SELECT *,
        beyond AND (lag(beyond) OVER w IS NOT TRUE OR capture_dt - lag(capture_dt) OVER w > make_interval(secs => ${gapMs / 1000})) AS starts
      FROM readings WINDOW w AS (PARTITION BY k ORDER BY capture_dt)
    ),
    runs AS (
      SELECT *, sum(starts::int) OVER (PARTITION BY k ORDER BY capture_dt) AS run FROM marked
    ),
    events AS (
      SELECT k, min(metric) AS metric, min(direction) AS direction, min(capture_dt) AS start, max(capture_dt) AS "end", count(*)::int AS readings,
        (array_agg(value ORDER BY abs(value - "limit") DESC, capture_dt))[1] AS peak,
        (array_agg(capture_dt ORDER BY abs(value - "limit") DESC, capture_dt))[1] AS peak_at,
        max(abs(value - "limit")) AS peak_delta,
        (array_agg("limit" ORDER BY abs(value - "limit") DESC, capture_dt))[1] AS "limit"
      FROM runs WHERE beyond GROUP BY k, run
    )
    SELECT e.*, e.readings * ${query.intervalMs}::double precision / 60000 AS minutes
    FROM events e ${after}
    ORDER BY e.start, e.k
    LIMIT ${query.limit}`.execute(db);
  return rows;
}

export interface ExcursionSummary {
  temperature_above_minutes: number | null;
  temperature_below_minutes: number | null;
  humidity_above_minutes: number | null;
  humidity_below_minutes: number | null;
  /** Hours in the range with at least one reading out of limits. */
  hours_with_excursions: number;
}

/**
 * Minutes out of limits per kind from the hourly counts (so also over hours whose raw readings
 * are pruned): each hour's count × its own expected interval (from the expected_count fixed at
 * its first aggregation), or `intervalMs` when that is unknown. NULL when no hour had the limit.
 */
export async function excursionSummary(db: Kysely<Database>, query: { locId: string; from: Date; to: Date; intervalMs: number | null }): Promise<ExcursionSummary> {
  const counts = EXCURSION_KINDS.map((kind) => sql.ref(kind.countColumn));
  const row = await db
    .selectFrom('temperature')
    .select([
      ...EXCURSION_KINDS.map((kind) =>
        sql`sum(${sql.ref(kind.countColumn)} * coalesce(60.0 / nullif(expected_count, 0), ${query.intervalMs}::double precision / 60000))::double precision`.as(
          `${kind.metric}_${kind.direction}_minutes`,
        ),
      ),
      sql<number>`count(*) FILTER (WHERE greatest(${sql.join(counts)}) > 0)::int`.as('hours_with_excursions'),
    ])
    .where('loc_id', '=', query.locId)
    .where('bucket', '>=', query.from)
    .where('bucket', '<', query.to)
    .executeTakeFirstOrThrow();
  return row as unknown as ExcursionSummary;
}
