import { sql, type Kysely, type RawBuilder } from 'kysely';
import { HOURLY_AGGREGATE_COLUMNS, expectedCountOf, hourlyRowsInRange, isoHour, plantLocalHour, type Database, type HourlyAggregates } from '../../db/index.js';
import { HOUR_MS } from '../time/time-range.js';

/** An hourly row as the API serves it: the table's columns, coverage, and whether the hour is still open. */
export interface HourlyRecord extends HourlyAggregates {
  loc_id: string;
  bucket: Date;
  ymd: string;
  hh: string;
  sample_count: number;
  expected_count: number | null;
  /** sample_count / expected_count; NULL when expected_count is unknown. */
  coverage: number | null;
  partial: boolean;
}

export const HOURLY_COLUMNS = ['loc_id', 'bucket', 'ymd', 'hh', ...HOURLY_AGGREGATE_COLUMNS, 'sample_count', 'expected_count', 'coverage', 'partial'] as const;

export interface HourlyQuery {
  /** undefined: every location. */
  readonly locIds: readonly string[] | undefined;
  readonly from: Date;
  readonly to: Date;
  /** Keyset: rows strictly after (bucket, loc_id). */
  readonly after: { readonly bucket: Date; readonly locId: string } | undefined;
  /**
   * The current hour when `include_partial=true` and it lies in the range: its row is computed
   * from raw readings at query time (db/hourly-row.ts, the aggregator's own definition),
   * replacing whatever the hourly table may hold for it.
   */
  readonly partialHour: Date | undefined;
  /**
   * `gaps=include`: an empty row (NULL values, sample_count 0) for each hour of the range up to
   * `gapsBefore` (the current hour, exclusive, or inclusive with the partial hour) that has no row,
   * for each requested location (all registered locations when none is named).
   */
  readonly gapsBefore?: Date | undefined;
  /** PLANT_TIMEZONE, for the partial row's ymd/hh. */
  readonly timezone: string;
}

const AGGREGATES = sql.raw(HOURLY_AGGREGATE_COLUMNS.join(', '));
const NO_AGGREGATES = sql.raw(HOURLY_AGGREGATE_COLUMNS.map((column) => `${column.endsWith('_count') ? '0' : 'NULL::double precision'} AS ${column}`).join(', '));
const inLocations = (column: string, locIds: readonly string[] | undefined) => (locIds ? sql`AND ${sql.ref(column)} = ANY(${[...locIds]}::text[])` : sql``);

/** The rows of the range before paging: stored hours, the partial hour, and the gaps. */
function hourlySource(query: HourlyQuery): RawBuilder<unknown> {
  const stored = sql`
    SELECT loc_id, bucket, ymd, hh, ${AGGREGATES}, sample_count, expected_count, false AS partial
    FROM temperature
    WHERE bucket >= ${query.from} AND bucket < ${query.partialHour ?? query.to} ${inLocations('loc_id', query.locIds)}`;
  const hour = query.partialHour;
  const rows = hour
    ? sql`${stored}
      UNION ALL
      SELECT g.loc_id, g.bucket, g.ymd, g.hh, ${AGGREGATES}, g.sample_count, ${expectedCountOf(sql`g.loc_id`)}, true
      FROM (${hourlyRowsInRange({ from: hour, to: new Date(hour.getTime() + HOUR_MS), locIds: query.locIds, timezone: query.timezone })}) AS g`
    : stored;
  if (!query.gapsBefore) return sql`${rows}`;
  const locations = query.locIds ? sql`SELECT unnest(${[...query.locIds]}::text[]) AS loc_id` : sql`SELECT loc_id FROM location WHERE active`;
  const end = query.gapsBefore < query.to ? query.gapsBefore : query.to;
  return sql`
    WITH present AS MATERIALIZED (${rows})
    SELECT * FROM present
    UNION ALL
    SELECT l.loc_id, h.bucket, ${plantLocalHour(sql`h.bucket`, query.timezone)}, ${NO_AGGREGATES}, 0, ${expectedCountOf(sql`l.loc_id`)}, h.bucket >= ${hour ?? end}
    FROM (${locations}) AS l
    CROSS JOIN generate_series(reading_hour(${query.from}::timestamptz - interval '1 microsecond') + interval '1 hour',
                               ${end}::timestamptz - interval '1 microsecond', interval '1 hour') AS h(bucket)
    WHERE NOT EXISTS (SELECT 1 FROM present p WHERE p.loc_id = l.loc_id AND p.bucket = h.bucket)`;
}

/** Hourly rows ordered by (bucket, loc_id): the stored hours, plus the partial hour and the gaps on request. */
export function hourlyQuery(db: Kysely<Database>, query: HourlyQuery) {
  let rows = db
    .selectFrom(sql<Omit<HourlyRecord, 'coverage'>>`(${hourlySource(query)})`.as('h'))
    .selectAll()
    .select(sql<number | null>`h.sample_count::double precision / h.expected_count`.as('coverage'));
  if (query.after) {
    const { bucket, locId } = query.after;
    rows = rows.where((eb) => eb(eb.refTuple('h.bucket', 'h.loc_id'), '>', eb.tuple(bucket, locId)));
  }
  return rows.orderBy('h.bucket').orderBy('h.loc_id');
}

export interface HourlyJsonPage {
  /** The page's rows as a JSON array, built by PostgreSQL. */
  readonly json: string;
  /** The (bucket, loc_id) of the last row when there is a next page. */
  readonly last: { readonly bucket: Date; readonly locId: string } | undefined;
  /** hourlyVersion of the same rows, read in the same snapshot as the page. */
  readonly version: string;
}

/**
 * One page of hourly rows as JSON text made by PostgreSQL (json_build_object in C) rather than
 * parsed into JavaScript objects and serialised again: the 30-day query of a location is 720 rows
 * of 12 fields, and row parsing and serialising dominated its cost in Node (bench/api-hourly.ts).
 * Field names and values are the same as HourlyRow's; `partial` also marks a stored hour that
 * has not ended at `now`.
 */
export async function hourlyJsonPage(db: Kysely<Database>, query: HourlyQuery, limit: number, now: Date): Promise<HourlyJsonPage> {
  const page = hourlyQuery(db, query).limit(limit + 1);
  const endedBefore = new Date(now.getTime() - HOUR_MS);
  // row_to_json-style output of a named row is compact ("key":value), a third smaller than
  // json_build_object's ("key" : value) for the same fields.
  // The page's version (as hourlyVersion computes it) in the same statement, so in the same
  // snapshot as the rows: a page made on a cache miss needs no separate version query.
  const { rows } = await sql<{ json: string; last_bucket: Date | null; last_loc_id: string | null; version: string }>`
    SELECT
      coalesce(json_agg(r ORDER BY p.rn) FILTER (WHERE p.rn <= ${limit}), '[]')::text AS json,
      max(p.bucket) FILTER (WHERE p.rn = ${limit} AND p.total > ${limit}) AS last_bucket,
      max(p.loc_id) FILTER (WHERE p.rn = ${limit} AND p.total > ${limit}) AS last_loc_id,
      ${versionQuery(db, query, limit)} AS version
    FROM (
      SELECT q.*, row_number() OVER (ORDER BY q.bucket, q.loc_id) AS rn, count(*) OVER () AS total FROM (${page}) AS q
    ) AS p
    CROSS JOIN LATERAL (
      SELECT p.loc_id, ${isoHour(sql`p.bucket`)} AS bucket, p.ymd, p.hh,
             ${sql.raw(HOURLY_AGGREGATE_COLUMNS.map((column) => `p.${column}`).join(', '))},
             p.sample_count, p.expected_count, p.coverage, p.partial OR p.bucket > ${endedBefore}::timestamptz AS partial
    ) AS r`.execute(db);
  const row = rows[0];
  return {
    json: row?.json ?? '[]',
    last: row?.last_bucket && row.last_loc_id !== null ? { bucket: row.last_bucket, locId: row.last_loc_id } : undefined,
    version: row?.version ?? '0:0',
  };
}

/**
 * A fingerprint of exactly the stored rows a page is made from (the first `limit + 1` rows after
 * the cursor): their count and an XOR of a 64-bit hash of each row version's identity, its
 * (ctid, xmin). PostgreSQL never changes a row in place: an update writes a new row version at a
 * new ctid stamped with the writer's transaction id, a delete removes one, an insert adds one, so
 * any write that could change the page changes the fingerprint, even one that leaves `updated_at`
 * alone or commits after a later transaction. Reading only the system columns costs a third of
 * hashing each row's text (bench/api-hourly.ts). A table rewrite (VACUUM FULL, CLUSTER) changes
 * it too, which only costs a cache miss. For ranges of complete past hours only: no partial row.
 */
export function versionQuery(db: Kysely<Database>, query: HourlyQuery, limit: number) {
  let rows = db
    .selectFrom('temperature')
    .select(sql<string>`hashtextextended(ctid::text || ':' || xmin::text, 0)`.as('row_version'))
    .where('bucket', '>=', query.from)
    .where('bucket', '<', query.to);
  if (query.locIds) rows = rows.where('loc_id', 'in', [...query.locIds]);
  if (query.after) {
    const { bucket, locId } = query.after;
    rows = rows.where((eb) => eb(eb.refTuple('bucket', 'loc_id'), '>', eb.tuple(bucket, locId)));
  }
  const page = rows.orderBy('bucket').orderBy('loc_id').limit(limit + 1);
  return sql<string>`(SELECT count(*) || ':' || coalesce(bit_xor(v.row_version), 0) FROM (${page}) AS v)`;
}

export async function hourlyVersion(db: Kysely<Database>, query: HourlyQuery, limit: number): Promise<string> {
  const { rows } = await sql<{ version: string }>`SELECT ${versionQuery(db, query, limit)} AS version`.execute(db);
  return rows[0]?.version ?? '';
}
