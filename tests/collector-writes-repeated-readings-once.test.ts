import { describe, expect, it } from 'vitest';
import { writeReadings, type Reading } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';

const reading = (locId: string, second: number, temperature: number): Reading => ({
  locId,
  captureMs: Date.UTC(2024, 0, 1, 0, 0, second),
  values: { temperature, humidity: 50, pcv_temperature: null },
});

describe('the collector write path', () => {
  const database = useTestDatabase();

  it('stores a fresh batch with COPY and a batch that repeats stored readings once, keeping the first values', async () => {
    const { pool, db } = database();
    expect(await writeReadings(pool, 'gw-w', [reading('W-1', 0, 20), reading('W-1', 1, 21), reading('W-2', 0, 22)], 5_000)).toBe(3);
    // Not flagged as a replay: the COPY meets the unique key and the batch is retried as an upsert.
    expect(await writeReadings(pool, 'gw-w', [reading('W-1', 1, 99), reading('W-1', 2, 23), reading('W-1', 2, 98)], 5_000)).toBe(1);
    // A replay goes straight to the upsert.
    expect(await writeReadings(pool, 'gw-w', [reading('W-2', 0, 97), reading('W-2', 1, 24)], 5_000, { mayRepeat: true })).toBe(1);
    const rows = await db.selectFrom('temperature_raw').select(['loc_id', 'capture_dt', 'temperature', 'gateway_id']).orderBy('loc_id').orderBy('capture_dt').execute();
    expect(rows.map((row) => [row.loc_id, row.capture_dt.getUTCSeconds(), row.temperature, row.gateway_id])).toEqual([
      ['W-1', 0, 20, 'gw-w'],
      ['W-1', 1, 21, 'gw-w'],
      ['W-1', 2, 23, 'gw-w'],
      ['W-2', 0, 22, 'gw-w'],
      ['W-2', 1, 24, 'gw-w'],
    ]);
  });
});
