import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfill } from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import { insertReadings } from './support/aggregator-fixtures.js';
import { startApi, type RunningApi } from './support/api-app.js';

/**
 * The case that made daily averages wrong: hour 1 humidity 50, 50; hour 2 humidity 90, NULL (a
 * faulted transmitter). The raw mean is (50 + 50 + 90) / 3 = 63.33; weighting each hour's AVG by
 * sample_count (2 and 2) gave 70.
 */
describe('daily averages weight each metric by its own count', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  beforeAll(async () => {
    const { db } = database();
    await insertReadings(db, [
      { loc_id: 'W-01', at: '2024-02-01T01:10:00Z', values: [20, 50, null] },
      { loc_id: 'W-01', at: '2024-02-01T01:20:00Z', values: [21, 50, null] },
      { loc_id: 'W-01', at: '2024-02-01T02:10:00Z', values: [22, 90, 5] },
      { loc_id: 'W-01', at: '2024-02-01T02:20:00Z', values: [null, null, null] },
    ]);
    await backfill(db, { timezone: 'UTC', start: '2024-02-01', end: '2024-02-01' });
    api = await startApi(database(), { now: () => new Date('2024-03-01T00:00:00Z') });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('humidity 50, 50 | 90, NULL averages to 63.33 over the day, not 70; MIN, MAX and counts are the raw ones', async () => {
    const response = await fetch(`${api.url}/v1/locations/W-01/daily?from=2024-02-01&to=2024-02-02`);
    expect(response.status).toBe(200);
    const [day] = ((await response.json()) as { data: Record<string, unknown>[] }).data;
    expect(day?.humidity_avg).toBeCloseTo(190 / 3, 12);
    expect(day?.temperature_avg).toBeCloseTo(21, 12);
    expect(day?.pcv_temperature_avg).toBe(5);
    expect(day).toMatchObject({
      sample_count: 4,
      humidity_min: 50,
      humidity_max: 90,
      humidity_count: 3,
      temperature_min: 20,
      temperature_max: 22,
      temperature_count: 3,
      pcv_temperature_min: 5,
      pcv_temperature_count: 1,
    });
  });
});
