import { sql, type Kysely } from 'kysely';
import { expect } from 'vitest';
import { CLIMATE_COLUMNS, type Database, type NewRawReading } from '../../db/index.js';
import type { Clock } from '../../aggregator/index.js';
import { createLogger } from './database.js';

/**
 * Test support for the aggregator: an independent computation of the hourly table in plain
 * JavaScript (its own hour arithmetic, NULL handling and Intl time zone rules, nothing shared with
 * the SQL under test), and helpers to compare it with the table and to read row versions (xmin).
 */

export const silentLog = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

const HOUR_MS = 3_600_000;
const METRICS = ['temperature', 'humidity', 'pcv_temperature'] as const;

export interface ExpectedHour {
  loc_id: string;
  bucket: string;
  ymd: string;
  hh: string;
  temperature_max: number | null;
  temperature_avg: number | null;
  humidity_max: number | null;
  humidity_avg: number | null;
  pcv_temperature_max: number | null;
  pcv_temperature_avg: number | null;
  temperature_min: number | null;
  temperature_count: number | null;
  humidity_min: number | null;
  humidity_count: number | null;
  pcv_temperature_min: number | null;
  pcv_temperature_count: number | null;
  sample_count: number;
}

export interface HourFilter {
  readonly from?: Date;
  readonly to?: Date;
  readonly locId?: string;
}

function localParts(bucket: Date, timezone: string): { ymd: string; hh: string } {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(bucket);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return { ymd: `${part('year')}${part('month')}${part('day')}`, hh: part('hour') };
}

const inFilter = (locId: string, bucket: number, filter: HourFilter) =>
  (filter.locId === undefined || locId === filter.locId) &&
  (filter.from === undefined || bucket >= filter.from.getTime()) &&
  (filter.to === undefined || bucket < filter.to.getTime());

/** The hourly rows the raw table implies, computed in JavaScript. */
export async function expectedHourly(db: Kysely<Database>, timezone: string, filter: HourFilter = {}): Promise<Map<string, ExpectedHour>> {
  const raw = await db.selectFrom('temperature_raw').select(['loc_id', 'capture_dt', 'temperature', 'humidity', 'pcv_temperature']).execute();
  const groups = new Map<string, { loc_id: string; bucket: number; rows: typeof raw }>();
  for (const row of raw) {
    // Date keeps milliseconds: h:59:59.999999 becomes h:59:59.999, still in hour h.
    const bucket = Math.floor(row.capture_dt.getTime() / HOUR_MS) * HOUR_MS;
    if (!inFilter(row.loc_id, bucket, filter)) continue;
    const key = `${row.loc_id}@${new Date(bucket).toISOString()}`;
    const group = groups.get(key) ?? { loc_id: row.loc_id, bucket, rows: [] };
    group.rows.push(row);
    groups.set(key, group);
  }
  const result = new Map<string, ExpectedHour>();
  for (const [key, group] of groups) {
    const hour: Record<string, unknown> = { loc_id: group.loc_id, bucket: new Date(group.bucket).toISOString(), ...localParts(new Date(group.bucket), timezone) };
    for (const metric of METRICS) {
      const values = group.rows.map((row) => row[metric]).filter((value): value is number => value !== null);
      hour[`${metric}_min`] = values.length ? Math.min(...values) : null;
      hour[`${metric}_max`] = values.length ? Math.max(...values) : null;
      hour[`${metric}_count`] = values.length;
      hour[`${metric}_avg`] = values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : null;
    }
    hour.sample_count = group.rows.length;
    result.set(key, hour as unknown as ExpectedHour);
  }
  return result;
}

export async function storedHourly(db: Kysely<Database>, filter: HourFilter = {}): Promise<Map<string, ExpectedHour>> {
  const rows = await db.selectFrom('temperature').selectAll().execute();
  const result = new Map<string, ExpectedHour>();
  for (const row of rows) {
    if (!inFilter(row.loc_id, row.bucket.getTime(), filter)) continue;
    // expected_count is configuration (device poll intervals), not a function of the raw rows.
    // The climate columns (dew point, excursions, Arrhenius sum) have their own reference check:
    // tests/aggregator-climate-columns-equal-raw-and-threshold-history.test.ts.
    // revision and change_* are the row's bookkeeping for the change feed (migration 0006).
    const { updated_at: _updated, expected_count: _expected, revision: _revision, change_cause: _cause, change_audit_id: _audit, bucket, ...values } = row;
    for (const column of CLIMATE_COLUMNS) delete (values as Partial<typeof values>)[column];
    result.set(`${row.loc_id}@${bucket.toISOString()}`, { ...values, bucket: bucket.toISOString() });
  }
  return result;
}

/** Asserts the contract: same hours, MAX/count/ymd/hh exact, AVG within a relative 1e-9. */
export async function expectHourlyMatchesRaw(db: Kysely<Database>, timezone: string, filter: HourFilter = {}): Promise<Map<string, ExpectedHour>> {
  const expected = await expectedHourly(db, timezone, filter);
  const stored = await storedHourly(db, filter);
  expect([...stored.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, want] of expected) {
    const got = stored.get(key);
    expect(got, key).toBeDefined();
    if (!got) continue;
    const { temperature_avg, humidity_avg, pcv_temperature_avg, ...exact } = want;
    expect({ ...got, temperature_avg: undefined, humidity_avg: undefined, pcv_temperature_avg: undefined }, key).toEqual({
      ...exact,
      temperature_avg: undefined,
      humidity_avg: undefined,
      pcv_temperature_avg: undefined,
    });
    for (const [column, value] of [
      ['temperature_avg', temperature_avg],
      ['humidity_avg', humidity_avg],
      ['pcv_temperature_avg', pcv_temperature_avg],
    ] as const) {
      const actual = got[column];
      if (value === null) expect(actual, `${key} ${column}`).toBeNull();
      else {
        expect(actual, `${key} ${column}`).not.toBeNull();
        expect(Math.abs((actual ?? NaN) - value), `${key} ${column}`).toBeLessThanOrEqual(1e-9 * Math.max(Math.abs(value), Math.abs(actual ?? 0)));
      }
    }
  }
  return expected;
}

/** Row version of every hourly row: unchanged xmin means the row was not rewritten. */
export async function hourlyXmins(db: Kysely<Database>): Promise<Map<string, string>> {
  const { rows } = await sql<{ key: string; xmin: string }>`
    SELECT loc_id || '@' || to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"') AS key, xmin::text AS xmin FROM temperature`.execute(db);
  return new Map(rows.map((row) => [row.key, row.xmin]));
}

/** Inserts readings; `values` is [temperature, humidity, pcv_temperature]. */
export async function insertReadings(
  db: Kysely<Database>,
  readings: readonly { loc_id: string; at: string | Date; values?: readonly [number | null, number | null, number | null] }[],
): Promise<void> {
  const rows: NewRawReading[] = readings.map((reading) => ({
    loc_id: reading.loc_id,
    capture_dt: reading.at,
    temperature: reading.values?.[0] ?? null,
    humidity: reading.values?.[1] ?? null,
    pcv_temperature: reading.values?.[2] ?? null,
    gateway_id: 'gw-test',
  }));
  for (let i = 0; i < rows.length; i += 1000) await db.insertInto('temperature_raw').values(rows.slice(i, i + 1000)).execute();
}

/**
 * Synthetic readings generated by PostgreSQL (fast for months of data): every `stepSeconds` from
 * `from` (inclusive) to `to` (exclusive) for each location, with values that vary per reading and
 * an occasional NULL.
 */
export async function generateReadings(db: Kysely<Database>, options: { locIds: readonly string[]; from: string; to: string; stepSeconds: number }): Promise<number> {
  const result = await sql`
    INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
    SELECT l, t,
      round((20 + 5 * sin(extract(epoch FROM t) / 3600.0) + length(l))::numeric, 1)::double precision,
      CASE WHEN extract(minute FROM t)::int % 7 = 0 THEN NULL ELSE round((40 + 10 * cos(extract(epoch FROM t) / 5000.0))::numeric, 2)::double precision END,
      (extract(epoch FROM t) % 1000) / 7.0,
      'gw-gen'
    FROM unnest(${[...options.locIds]}::text[]) AS l,
         generate_series(${options.from}::timestamptz, ${options.to}::timestamptz - interval '1 microsecond', make_interval(secs => ${options.stepSeconds})) AS t`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** A clock tests move by hand. */
export function manualClock(start: string): Clock & { set(iso: string): void; advance(ms: number): void } {
  let now = new Date(start);
  const clock = (() => new Date(now)) as Clock & { set(iso: string): void; advance(ms: number): void };
  clock.set = (iso: string) => {
    now = new Date(iso);
  };
  clock.advance = (ms: number) => {
    now = new Date(now.getTime() + ms);
  };
  return clock;
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
