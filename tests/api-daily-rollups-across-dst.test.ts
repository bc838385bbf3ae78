import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { insertHourly, startApi, type HourlySeed, type RunningApi } from './support/api-app.js';

const HOUR = 3_600_000;

interface Daily {
  day: string;
  ymd: string;
  start: string;
  hours: number;
  temperature_max: number;
  temperature_avg: number;
  humidity_avg: number | null;
  sample_count: number;
}

/** Hours from `start` (UTC) with varying sample counts so that weighting matters. */
function seed(locId: string, start: string, count: number): HourlySeed[] {
  return Array.from({ length: count }, (_, index) => ({
    locId,
    bucket: new Date(Date.parse(start) + index * HOUR),
    temperature: index,
    humidity: index % 3 === 0 ? null : 50,
    sampleCount: 1 + (index % 7),
    timezone: 'Europe/Berlin',
  }));
}

describe('daily rollups', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  let seeded: HourlySeed[];

  beforeAll(async () => {
    // 2024-03-30 00:00 Berlin (CET) is 2024-03-29T23:00Z; four local days across the spring change,
    // and four across the autumn change (2024-10-27 has 25 hours).
    seeded = [...seed('DST-1', '2024-03-29T23:00:00Z', 95), ...seed('DST-1', '2024-10-25T22:00:00Z', 97)];
    await insertHourly(database(), seeded);
    api = await startApi(database(), { timezone: 'Europe/Berlin', now: () => new Date('2024-12-01T00:00:00Z') });
  });
  afterAll(async () => {
    await api?.close();
  });

  const daily = async (query: string): Promise<Daily[]> => {
    const response = await fetch(`${api.url}/v1/locations/DST-1/daily?${query}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return ((await response.json()) as { data: Daily[] }).data;
  };

  function expected(from: string, to: string) {
    const rows = seeded.filter((row) => row.bucket.getTime() >= Date.parse(from) && row.bucket.getTime() < Date.parse(to));
    const weight = rows.reduce((sum, row) => sum + (row.sampleCount ?? 0), 0);
    const temperatureAvg = rows.reduce((sum, row) => sum + (row.temperature ?? 0) * (row.sampleCount ?? 0), 0) / weight;
    return { hours: rows.length, temperature_max: Math.max(...rows.map((row) => (row.temperature ?? 0) + 1)), temperature_avg: temperatureAvg, sample_count: weight };
  }

  it('make 23- and 25-hour days in PLANT_TIMEZONE, MAX of the hours and AVG weighted by the metric count', async () => {
    const spring = await daily('from=2024-03-30&to=2024-04-02');
    expect(spring.map((day) => [day.day, day.ymd, day.hours, day.start])).toEqual([
      ['2024-03-30', '20240330', 24, '2024-03-29T23:00:00.000Z'],
      ['2024-03-31', '20240331', 23, '2024-03-30T23:00:00.000Z'],
      ['2024-04-01', '20240401', 24, '2024-03-31T22:00:00.000Z'],
    ]);
    const march31 = expected('2024-03-30T23:00:00Z', '2024-03-31T22:00:00Z');
    expect(spring[1]).toMatchObject({ hours: march31.hours, temperature_max: march31.temperature_max, sample_count: march31.sample_count });
    expect(spring[1]?.temperature_avg).toBeCloseTo(march31.temperature_avg, 9);
    // Humidity is NULL in every third hour: those hours' samples do not dilute the average.
    expect(spring[1]?.humidity_avg).toBeCloseTo(50, 9);

    const autumn = await daily('from=2024-10-26&to=2024-10-29');
    expect(autumn.map((day) => [day.day, day.hours])).toEqual([
      ['2024-10-26', 24],
      ['2024-10-27', 25],
      ['2024-10-28', 24],
    ]);
    const october27 = expected('2024-10-26T22:00:00Z', '2024-10-27T23:00:00Z');
    expect(autumn[1]?.temperature_avg).toBeCloseTo(october27.temperature_avg, 9);
    expect(autumn[1]?.sample_count).toBe(october27.sample_count);
  });

  it('use the tz parameter for day boundaries when given', async () => {
    const utc = await daily('from=2024-03-31&to=2024-04-01&tz=UTC');
    expect(utc.map((day) => [day.day, day.hours, day.start])).toEqual([['2024-03-31', 24, '2024-03-31T00:00:00.000Z']]);
    const tokyo = await daily('from=2024-03-31&to=2024-04-01&tz=Asia/Tokyo');
    expect(tokyo[0]).toMatchObject({ day: '2024-03-31', start: '2024-03-30T15:00:00.000Z', hours: 24 });
  });

  it('page through days with a cursor', async () => {
    const first = await fetch(`${api.url}/v1/locations/DST-1/daily?from=2024-03-30&to=2024-04-03&limit=2`);
    const page = (await first.json()) as { data: Daily[]; next_cursor: string };
    expect(page.data.map((day) => day.day)).toEqual(['2024-03-30', '2024-03-31']);
    expect(first.headers.get('link')).toContain('rel="next"');
    const rest = await daily(`from=2024-03-30&to=2024-04-03&limit=2&cursor=${encodeURIComponent(page.next_cursor)}`);
    expect(rest.map((day) => day.day)).toEqual(['2024-04-01', '2024-04-02']);
  });
});
