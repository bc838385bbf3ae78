import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ScheduledAggregator } from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import { generateReadings, insertReadings, manualClock, silentLog } from './support/aggregator-fixtures.js';
import { startApi, type RunningApi } from './support/api-app.js';

type Row = Record<string, unknown>;

/**
 * A quiet hour and a broken one look different: the hour's expected_count comes from the poll
 * intervals of the location's devices, coverage is sample_count / expected_count, and an hour
 * without any reading is an empty row with gaps=include.
 */
describe('hourly and daily coverage, and gaps=include', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  beforeAll(async () => {
    const { db } = database();
    const location = { name: null, plant: null, area: null, temperature_min: null, temperature_max: null, humidity_min: null, humidity_max: null };
    await db.insertInto('location').values([{ loc_id: 'G-01', ...location }, { loc_id: 'G-02', ...location }]).execute();
    // Two devices at G-01: 3600 s / 10 s + 3600 s / 20 s = 540 readings expected an hour.
    const device = { gateway_id: 'gw', host: '10.0.0.1', port: 502, unit_id: 1 };
    await db
      .insertInto('device')
      .values([
        { ...device, device_id: 'a', loc_id: 'G-01', poll_interval_ms: 10_000 },
        { ...device, device_id: 'b', loc_id: 'G-01', poll_interval_ms: 20_000 },
      ])
      .execute();
    // 10:00 every 10 s (360 readings), 11:00 none at all (the collector was down), 12:00 six.
    await generateReadings(db, { locIds: ['G-01'], from: '2024-05-01T10:00:00Z', to: '2024-05-01T11:00:00Z', stepSeconds: 10 });
    await generateReadings(db, { locIds: ['G-01'], from: '2024-05-01T12:00:00Z', to: '2024-05-01T12:01:00Z', stepSeconds: 10 });
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-05-01T13:05:00Z') }).runOnce('test');
    api = await startApi(database(), { now: () => new Date('2024-05-01T13:30:00Z') });
  });
  afterAll(async () => {
    await api?.close();
  });

  const get = async (path: string): Promise<Row[]> => {
    const response = await fetch(`${api.url}${path}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return ((await response.json()) as { data: Row[] }).data;
  };

  it('record expected_count from the devices and serve coverage on hourly rows', async () => {
    const rows = await get('/v1/locations/G-01/hourly?from=2024-05-01T10:00:00Z&to=2024-05-01T14:00:00Z');
    expect(rows.map((row) => [row.bucket, row.sample_count, row.expected_count, row.coverage])).toEqual([
      ['2024-05-01T10:00:00.000Z', 360, 540, 360 / 540],
      ['2024-05-01T12:00:00.000Z', 6, 540, 6 / 540],
    ]);
  });

  it('gaps=include adds an empty row for every complete hour without readings, per location', async () => {
    const rows = await get('/v1/locations/G-01/hourly?from=2024-05-01T10:00:00Z&to=2024-05-01T14:00:00Z&gaps=include');
    expect(rows.map((row) => [row.bucket, row.sample_count, row.coverage, row.partial])).toEqual([
      ['2024-05-01T10:00:00.000Z', 360, 360 / 540, false],
      ['2024-05-01T11:00:00.000Z', 0, 0, false],
      ['2024-05-01T12:00:00.000Z', 6, 6 / 540, false],
    ]);
    expect(rows[1]).toMatchObject({
      loc_id: 'G-01',
      ymd: '20240501',
      hh: '11',
      temperature_min: null,
      temperature_max: null,
      temperature_avg: null,
      temperature_count: 0,
      humidity_avg: null,
      pcv_temperature_max: null,
      expected_count: 540,
    });
    // The current hour is a gap only when shown, partial.
    const partial = await get('/v1/locations/G-01/hourly?from=2024-05-01T12:00:00Z&gaps=include&include_partial=true');
    expect(partial.map((row) => [row.hh, row.sample_count, row.partial])).toEqual([
      ['12', 6, false],
      ['13', 0, true],
    ]);
    // Every registered location when none is named; unknown expectation, unknown coverage.
    const all = await get('/v1/hourly?from=2024-05-01T11:00:00Z&to=2024-05-01T12:00:00Z&gaps=include');
    expect(all.map((row) => [row.loc_id, row.sample_count, row.expected_count, row.coverage])).toEqual([
      ['G-01', 0, 540, 0],
      ['G-02', 0, null, null],
    ]);
    const csv = await (await fetch(`${api.url}/v1/locations/G-01/hourly?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z&gaps=include&format=csv`)).text();
    expect(csv.trimEnd().split('\r\n')[2]).toMatch(/^G-01,2024-05-01T11:00:00\.000Z,20240501,11,,,,0,,,,0,,,,0,,,0,0,0,0,0,,,,,,0,540,0,false$/);
    const bad = await fetch(`${api.url}/v1/locations/G-01/hourly?gaps=yes`);
    expect(bad.status).toBe(400);
  });

  it('daily coverage counts every complete hour of the day, hours without readings included', async () => {
    const [day] = await get('/v1/locations/G-01/daily?from=2024-05-01&to=2024-05-02');
    // 00:00-13:00 are complete at 13:30: 13 hours x 540 expected, 366 readings.
    expect(day).toMatchObject({ day: '2024-05-01', hours: 2, sample_count: 366, expected_count: 13 * 540 });
    expect(day?.coverage).toBeCloseTo(366 / (13 * 540), 12);
  });

  it('keeps the expected_count an hour was first aggregated with when the poll interval changes later', async () => {
    const { db } = database();
    await sql`UPDATE device SET poll_interval_ms = 5000 WHERE device_id = 'a'`.execute(db);
    await insertReadings(db, [{ loc_id: 'G-01', at: '2024-05-01T10:00:05Z', values: [1, 2, 3] }]);
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-05-01T13:05:00Z') }).runOnce('late');
    const rows = await get('/v1/locations/G-01/hourly?from=2024-05-01T10:00:00Z&to=2024-05-01T11:00:00Z');
    expect(rows.map((row) => [row.sample_count, row.expected_count])).toEqual([[361, 540]]);
    // A gap takes the devices' current expectation: 720 + 180.
    const gap = await get('/v1/locations/G-01/hourly?from=2024-05-01T11:00:00Z&to=2024-05-01T12:00:00Z&gaps=include');
    expect(gap.map((row) => row.expected_count)).toEqual([900]);
  });
});
