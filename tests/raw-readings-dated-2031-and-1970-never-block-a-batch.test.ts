import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ScheduledAggregator, createAggregatorMetrics } from '../aggregator/index.js';
import { createRawPartitions } from '../db/index.js';
import { writeReadings } from '../collectors/raw-table-writer.js';
import type { Reading } from '../collectors/reading.js';
import { useTestDatabase } from './support/database.js';
import { silentLog } from './support/aggregator-fixtures.js';

const DAY_MS = 86_400_000;
const values = { temperature: 21.5, humidity: 40, pcv_temperature: null };

describe('readings dated outside every day partition', () => {
  const database = useTestDatabase();

  it('are stored in the default partition beside the good ones, through both write paths, counted, and moved when their day gets a partition', async () => {
    const { db, pool } = database();
    const now = Math.floor(Date.now() / 1000) * 1000;
    const good: Reading[] = [0, 1, 2, 3].map((index) => ({ locId: 'Q-01', captureMs: now - index * 10_000, values }));
    const odd: Reading[] = [
      { locId: 'Q-02', captureMs: Date.parse('2031-06-01T12:00:00Z'), values },
      { locId: 'Q-02', captureMs: Date.parse('1970-01-01T00:00:05Z'), values },
    ];
    // The collector's COPY path, odd readings in the middle of the batch ...
    expect(await writeReadings(pool, 'gw-odd', [good[0], odd[0], good[1], odd[1]], 10_000)).toBe(4);
    // ... and its ON CONFLICT path (a replay), which stores the new ones once.
    expect(await writeReadings(pool, 'gw-odd', [...good, ...odd], 10_000, { mayRepeat: true })).toBe(2);

    const where = async () =>
      (
        await sql<{ loc_id: string; capture_dt: Date; partition: string }>`
          SELECT loc_id, capture_dt, tableoid::regclass::text AS partition FROM temperature_raw WHERE gateway_id = 'gw-odd' ORDER BY capture_dt`.execute(db)
      ).rows.map((row) => `${row.capture_dt.toISOString()} ${row.partition}`);
    const today = new Date(now).toISOString().slice(0, 10).replaceAll('-', '');
    const stored = await where();
    expect(stored).toHaveLength(6);
    expect(stored[0]).toBe('1970-01-01T00:00:05.000Z temperature_raw_default');
    expect(stored[5]).toBe('2031-06-01T12:00:00.000Z temperature_raw_default');
    // The good ones are in day partitions (the latest in today's, made by migrate, not by the write).
    expect(stored.slice(1, 5).every((line) => /temperature_raw_p\d{8}$/.test(line))).toBe(true);
    expect(stored[4]).toMatch(new RegExp(`temperature_raw_p${today}$`));

    // The scheduled run exports them (RawReadingsOutsidePartitions alerts on this gauge) and how far the partitions reach.
    const metrics = createAggregatorMetrics({ defaultMetrics: false });
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, metrics, clock: () => new Date(now + 3_600_000) }).runOnce('odd dates');
    const gauge = async (name: string) => (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;
    expect(await gauge('plant_aggregator_raw_readings_outside_partitions')).toBe(2);
    expect(await gauge('plant_aggregator_raw_partitions_ahead_seconds')).toBeGreaterThan(7 * 86_400);
    // Every complete hour with readings was aggregated, the 1970 one too: the default partition is part of the table.
    const hours = await sql<{ loc_id: string; n: number }>`
      SELECT loc_id, sum(sample_count) AS n FROM temperature WHERE loc_id IN ('Q-01', 'Q-02') GROUP BY loc_id ORDER BY loc_id`.execute(db);
    expect(hours.rows).toEqual([{ loc_id: 'Q-01', n: 4 }, { loc_id: 'Q-02', n: 1 }]);

    // When 1 June 2031 gets its partition, its reading moves there out of the default partition.
    expect(await createRawPartitions(db, { from: new Date('2031-06-01T00:00:00Z'), to: new Date('2031-06-01T00:00:00Z') })).toEqual(['temperature_raw_p20310601']);
    expect((await where())[5]).toBe('2031-06-01T12:00:00.000Z temperature_raw_p20310601');
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, metrics, clock: () => new Date(now + DAY_MS) }).runOnce('next day');
    expect(await gauge('plant_aggregator_raw_readings_outside_partitions')).toBe(1);
  });
});
