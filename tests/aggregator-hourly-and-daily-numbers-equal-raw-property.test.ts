import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/index.js';
import { ScheduledAggregator } from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import { insertReadings, manualClock, silentLog } from './support/aggregator-fixtures.js';
import { startApi, type RunningApi } from './support/api-app.js';

/**
 * Property: whatever the raw data (NULLs in every metric), and whatever arrives late or is
 * deleted after a run, the next run leaves every hourly row, and every daily rollup the API
 * serves from them, equal to an independent SQL aggregation of the raw rows: counts, MIN and MAX
 * exactly, AVG within a relative 1e-9. Days in UTC and in Europe/Berlin, around both 2024 DST
 * changes (31 March has 23 local hours, 27 October 25).
 */

const METRICS = ['temperature', 'humidity', 'pcv_temperature'] as const;
// Hours (UTC starts) at the edges that matter: UTC midnights, Berlin midnights (23:00Z in winter,
// 22:00Z in summer), the hours of both changes, and one mid-day hour; few enough that an hour
// gets several readings, so that NULLs in one metric and not another change the weights.
const HOURS = [
  ...['2024-03-30T21', '2024-03-30T22', '2024-03-30T23', '2024-03-31T00', '2024-03-31T01', '2024-03-31T02', '2024-03-31T12'],
  ...['2024-03-31T21', '2024-03-31T22', '2024-03-31T23', '2024-04-01T00'],
  ...['2024-10-26T21', '2024-10-26T22', '2024-10-26T23', '2024-10-27T00', '2024-10-27T01', '2024-10-27T02', '2024-10-27T12'],
  ...['2024-10-27T22', '2024-10-27T23', '2024-10-28T00'],
].map((hour) => Date.parse(`${hour}:00:00Z`));
const LOCATIONS = ['P-1', 'P-2'];

type Values = [number | null, number | null, number | null];
interface Reading {
  loc_id: string;
  at: Date;
  values: Values;
}

// A value in tenths, as transmitters report, or NULL (a fault) about one time in four.
const value = fc.option(fc.integer({ min: -400, max: 1200 }).map((tenths) => tenths / 10), { freq: 3 });
const reading = fc.record({
  loc_id: fc.constantFrom(...LOCATIONS),
  hour: fc.constantFrom(...HOURS),
  // Any millisecond of the hour, its first and last included.
  offset: fc.oneof(fc.constant(0), fc.constant(3_599_999), fc.integer({ min: 0, max: 3_599_999 })),
  values: fc.tuple(value, value, value),
});
const readings = (max: number) =>
  fc.array(reading, { maxLength: max }).map((list) =>
    list.map(({ loc_id, hour, offset, values }): Reading => ({
      loc_id,
      at: new Date(hour + offset),
      values: values,
    })),
  );

const scenario = fc.record({
  first: readings(100),
  late: readings(40),
  // Fractions of the stored readings to delete after the first run.
  deletions: fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 20 }),
  // And whole hours emptied, so that an hourly row must go.
  emptied: fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 3 }),
});

type Row = Record<string, number | string | null>;

/** MIN, MAX, AVG and count of each metric and the reading count per group, in plain SQL written for this test. */
async function rawAggregation(db: Kysely<Database>, group: 'hour' | 'day', timezone: string): Promise<Map<string, Row>> {
  const key =
    group === 'hour'
      ? sql`to_char(date_trunc('hour', capture_dt AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24')`
      : sql`to_char((capture_dt AT TIME ZONE ${timezone})::date, 'YYYY-MM-DD')`;
  const { rows } = await sql<Row>`
    SELECT loc_id || '@' || ${key} AS key, count(*)::int AS sample_count,
      ${sql.raw(METRICS.map((m) => `min(${m}) AS ${m}_min, max(${m}) AS ${m}_max, avg(${m}) AS ${m}_avg, count(${m})::int AS ${m}_count, max(abs(${m})) AS ${m}_scale`).join(', '))}
    FROM temperature_raw GROUP BY 1`.execute(db);
  return new Map(rows.map((row) => [String(row.key), row]));
}

function expectSameNumbers(got: Row | undefined, want: Row, where: string): void {
  expect(got, where).toBeDefined();
  if (!got) return;
  expect(got.sample_count, `${where} sample_count`).toBe(want.sample_count);
  for (const metric of METRICS) {
    for (const exact of ['min', 'max', 'count']) expect(got[`${metric}_${exact}`], `${where} ${metric}_${exact}`).toBe(want[`${metric}_${exact}`]);
    const [avg, expected] = [got[`${metric}_avg`], want[`${metric}_avg`]];
    if (expected === null) {
      expect(avg, `${where} ${metric}_avg`).toBeNull();
      continue;
    }
    expect(typeof avg, `${where} ${metric}_avg`).toBe('number');
    // Relative to the size of the values summed: an average of -0.1, 0.2, -0.1 is 0 exactly,
    // and 3e-17 in floating point, which is right to 1e-9 of the readings' size.
    const scale = Math.max(Math.abs(Number(expected)), Math.abs(Number(avg)), Number(want[`${metric}_scale`]));
    expect(Math.abs(Number(avg) - Number(expected)), `${where} ${metric}_avg ${String(avg)} vs ${String(expected)}`).toBeLessThanOrEqual(1e-9 * scale);
  }
}

describe('hourly and daily numbers equal the raw readings (property)', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  beforeAll(async () => {
    // Registered, so that a location without readings is an empty list rather than a 404.
    await database().db.insertInto('location').values(LOCATIONS.map((loc_id) => ({ loc_id, name: loc_id, plant: null, area: null, temperature_min: null, temperature_max: null, humidity_min: null, humidity_max: null }))).execute();
    api = await startApi(database(), { timezone: 'Europe/Berlin', now: () => new Date('2024-12-01T00:00:00Z') });
  });
  afterAll(async () => {
    await api?.close();
  });

  async function apiDays(timezone: string): Promise<Map<string, Row>> {
    const days = new Map<string, Row>();
    for (const locId of LOCATIONS) {
      const response = await fetch(`${api.url}/v1/locations/${locId}/daily?from=2024-03-29&to=2024-10-30&tz=${encodeURIComponent(timezone)}`);
      expect(response.status).toBe(200);
      for (const day of ((await response.json()) as { data: Row[] }).data) days.set(`${locId}@${String(day.day)}`, day);
    }
    return days;
  }

  it('after random readings, late inserts and deletes, for UTC and Europe/Berlin days across both DST changes', async () => {
    const { db } = database();
    const aggregator = new ScheduledAggregator({ db, timezone: 'Europe/Berlin', log: silentLog, clock: manualClock('2024-11-01T00:00:00Z') });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ first, late, deletions, emptied }) => {
        await sql`TRUNCATE temperature_raw, temperature, raw_dirty_hour`.execute(db);
        const unique = (list: Reading[]) => [...new Map(list.map((r) => [`${r.loc_id}@${r.at.toISOString()}`, r])).values()];
        await insertReadings(db, unique(first));
        await aggregator.runOnce('property: first');

        // Late readings for hours already aggregated (and new ones), then deletes.
        await sql`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
                  SELECT * FROM unnest(${late.map((r) => r.loc_id)}::text[], ${late.map((r) => r.at.toISOString())}::timestamptz[],
                                       ${late.map((r) => r.values[0])}::float8[], ${late.map((r) => r.values[1])}::float8[],
                                       ${late.map((r) => r.values[2])}::float8[], ${late.map(() => 'late')}::text[])
                  ON CONFLICT DO NOTHING`.execute(db);
        const { rows: stored } = await sql<{ loc_id: string; capture_dt: Date }>`SELECT loc_id, capture_dt FROM temperature_raw ORDER BY 1, 2`.execute(db);
        const doomed = deletions.map((fraction) => stored[Math.floor(fraction * stored.length)]).filter((row) => row !== undefined);
        if (doomed.length > 0) {
          await sql`DELETE FROM temperature_raw WHERE (loc_id, capture_dt) IN (
                      SELECT * FROM unnest(${doomed.map((r) => r.loc_id)}::text[], ${doomed.map((r) => r.capture_dt.toISOString())}::timestamptz[]))`.execute(db);
        }
        const { rows: hours } = await sql<{ loc_id: string; bucket: Date }>`SELECT loc_id, bucket FROM temperature ORDER BY 1, 2`.execute(db);
        for (const hour of emptied.map((fraction) => hours[Math.floor(fraction * hours.length)]).filter((row) => row !== undefined)) {
          await sql`DELETE FROM temperature_raw WHERE loc_id = ${hour.loc_id} AND capture_dt >= ${hour.bucket} AND capture_dt < ${hour.bucket}::timestamptz + interval '1 hour'`.execute(db);
        }
        await aggregator.runOnce('property: late');

        const wantHours = await rawAggregation(db, 'hour', 'UTC');
        const { rows: gotHours } = await sql<Row>`
          SELECT loc_id || '@' || to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') AS key, * FROM temperature`.execute(db);
        expect(gotHours.map((row) => row.key).sort()).toEqual([...wantHours.keys()].sort());
        for (const row of gotHours) expectSameNumbers(row, wantHours.get(String(row.key)) ?? {}, `hour ${String(row.key)}`);

        for (const timezone of ['UTC', 'Europe/Berlin']) {
          const wantDays = await rawAggregation(db, 'day', timezone);
          const gotDays = await apiDays(timezone);
          expect([...gotDays.keys()].sort(), timezone).toEqual([...wantDays.keys()].sort());
          for (const [key, want] of wantDays) expectSameNumbers(gotDays.get(key), want, `${timezone} day ${key}`);
        }
      }),
      { numRuns: 25 },
    );
  });
});
