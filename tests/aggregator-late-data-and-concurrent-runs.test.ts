import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import {
  ScheduledAggregator,
  backfill,
  countDirtyHours,
  createAggregatorMetrics,
  serveMetrics,
  startSchedule,
} from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import {
  expectHourlyMatchesRaw,
  generateReadings,
  insertReadings,
  manualClock,
  silentLog,
  storedHourly,
  until,
} from './support/aggregator-fixtures.js';

describe('late readings', () => {
  const database = useTestDatabase();

  it('committed by a transaction that started before a run and ended after it are aggregated by the next run', async () => {
    const { db, pool } = database();
    await insertReadings(db, [
      { loc_id: 'L-01', at: '2024-02-01T10:10:00Z', values: [10, 10, 10] },
      { loc_id: 'L-01', at: '2024-02-01T11:10:00Z', values: [11, 11, 11] },
    ]);
    const clock = manualClock('2024-02-01T12:05:00Z');
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock });
    expect(await aggregator.runOnce('first')).toMatchObject({ claimed: 2 });

    // Hour 11 gets a committed late reading (its mark is committed and unclaimed) ...
    await insertReadings(db, [{ loc_id: 'L-01', at: '2024-02-01T11:20:00Z', values: [12, 12, 12] }]);
    // ... then two slow writers start: one into hour 10, whose mark is gone (its new mark is
    // not visible to anyone until it commits), one into hour 11, whose mark it row-locks.
    const slow10 = await pool.connect();
    const slow11 = await pool.connect();
    try {
      await slow10.query('BEGIN');
      await slow10.query(`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
                          VALUES ('L-01', '2024-02-01T10:50:00Z', 50, 50, 50, 'slow')`);
      await slow11.query('BEGIN');
      await slow11.query(`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
                          VALUES ('L-01', '2024-02-01T11:50:00Z', 60, 60, 60, 'slow')`);

      // The run neither waits for the writers nor consumes a mark whose rows it cannot see.
      const during = await aggregator.runOnce('during slow writers');
      expect(during).toMatchObject({ claimed: 0, written: 0 });
      // Hour 10 is what the committed raw rows give; hour 11 waits (marked) with its old value.
      await expectHourlyMatchesRaw(db, 'UTC', { to: new Date('2024-02-01T11:00:00Z') });
      expect((await storedHourly(db)).get('L-01@2024-02-01T11:00:00.000Z')?.sample_count).toBe(1);
      expect(await countDirtyHours(db)).toBe(1);

      await slow10.query('COMMIT');
      await slow11.query('COMMIT');
    } finally {
      slow10.release();
      slow11.release();
    }
    clock.advance(3_600_000);
    const after = await aggregator.runOnce('after the writers committed');
    expect(after).toMatchObject({ claimed: 2, written: 2 });
    const stored = await expectHourlyMatchesRaw(db, 'UTC');
    expect(stored.get('L-01@2024-02-01T10:00:00.000Z')).toMatchObject({ sample_count: 2, temperature_max: 50 });
    expect(stored.get('L-01@2024-02-01T11:00:00.000Z')).toMatchObject({ sample_count: 3, temperature_max: 60 });
    expect(await countDirtyHours(db)).toBe(0);
  });

  it('written while an aggregator holds the hour re-mark it once the aggregator commits', async () => {
    const { db, pool } = database();
    await insertReadings(db, [{ loc_id: 'L-02', at: '2024-02-02T10:10:00Z', values: [1, 1, 1] }]);
    // An aggregator mid-batch: has claimed the mark and recomputed, not yet committed.
    const aggregatorTx = await pool.connect();
    const writer = await pool.connect();
    try {
      await aggregatorTx.query('BEGIN');
      await aggregatorTx.query(`SELECT * FROM raw_dirty_hour WHERE loc_id = 'L-02' FOR UPDATE SKIP LOCKED`);
      await aggregatorTx.query(`DELETE FROM raw_dirty_hour WHERE loc_id = 'L-02'`);
      const write = writer.query(`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
                                  VALUES ('L-02', '2024-02-02T10:20:00Z', 2, 2, 2, 'late')`);
      await until(async () => {
        const { rows } = await pool.query<{ waiting: boolean }>(
          `SELECT count(*) > 0 AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%VALUES (''L-02''%'`,
        );
        return rows[0]?.waiting === true;
      }, 10_000, 'the writer to wait on the claimed mark');
      await aggregatorTx.query('COMMIT');
      await write;
    } finally {
      aggregatorTx.release();
      writer.release();
    }
    const marks = await db.selectFrom('raw_dirty_hour').select(['loc_id', 'bucket']).where('loc_id', '=', 'L-02').execute();
    expect(marks.map((mark) => mark.bucket.toISOString())).toEqual(['2024-02-02T10:00:00.000Z']);
  });

  it('are picked up by the next scheduled run, and the first run on start catches up after downtime', async () => {
    const { db } = database();
    const clock = manualClock('2024-03-01T00:30:00Z');
    // Downtime: 30 hours of readings for 3 locations arrive while no aggregator runs.
    await generateReadings(db, { locIds: ['S-01', 'S-02', 'S-03'], from: '2024-02-28T18:00:00Z', to: '2024-03-01T00:30:00Z', stepSeconds: 600 });
    const metrics = createAggregatorMetrics({ defaultMetrics: false });
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock, metrics, batchSize: 7 });
    const schedule = startSchedule(aggregator, { cron: '* * * * * *', timezone: 'UTC', log: silentLog });
    try {
      await until(async () => (await countDirtyHours(db)) === 3, 20_000, 'the catch-up run');
      await aggregator.idle();
      // Everything complete is aggregated; the current hour (00:00-01:00) is still open.
      await expectHourlyMatchesRaw(db, 'UTC', { to: new Date('2024-03-01T00:00:00Z') });
      expect((await storedHourly(db, { locId: 'S-01', from: new Date('2024-02-28T18:00:00Z') })).size).toBe(30);
      expect((await metrics.lag.get()).values[0]?.value).toBe(1800);

      // A late reading for an hour aggregated long ago, no backfill: the next tick takes it.
      await insertReadings(db, [{ loc_id: 'S-02', at: '2024-02-28T19:15:30Z', values: [99, 99, 99] }]);
      await until(async () => (await storedHourly(db)).get('S-02@2024-02-28T19:00:00.000Z')?.temperature_max === 99, 20_000, 'the late reading');
      await expectHourlyMatchesRaw(db, 'UTC', { to: new Date('2024-03-01T00:00:00Z') });
    } finally {
      await schedule.stop();
    }
  });
});

describe('concurrent aggregators', () => {
  const database = useTestDatabase();

  it('two runs claim disjoint hours; two overlapping backfills and a run at once end correct without deadlock', async () => {
    const { db } = database();
    const locIds = ['C-01', 'C-02', 'C-03', 'C-04'];
    await generateReadings(db, { locIds, from: '2024-04-01T00:00:00Z', to: '2024-04-11T00:00:00Z', stepSeconds: 300 });
    const marks = await countDirtyHours(db);
    expect(marks).toBe(4 * 240);
    const clock = manualClock('2024-05-01T00:00:00Z');
    const a = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock, batchSize: 50 });
    const b = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock, batchSize: 50 });
    const [ra, rb] = await Promise.all([a.runOnce('a'), b.runOnce('b')]);
    // No hour was aggregated twice and none was missed.
    expect((ra?.claimed ?? 0) + (rb?.claimed ?? 0)).toBe(marks);
    expect((ra?.written ?? 0) + (rb?.written ?? 0)).toBe(marks);
    await expectHourlyMatchesRaw(db, 'UTC');

    // Change data everywhere, then race two overlapping backfills, a run and a writer.
    await sql`UPDATE temperature_raw SET temperature = temperature + 1 WHERE extract(minute FROM capture_dt)::int % 10 = 0`.execute(db);
    await sql`DELETE FROM temperature_raw WHERE loc_id = 'C-04' AND capture_dt < '2024-04-03T00:00:00Z'`.execute(db);
    const writer = (async () => {
      for (let i = 0; i < 20; i += 1) {
        await insertReadings(db, [{ loc_id: 'C-05', at: new Date(Date.parse('2024-04-05T00:00:30Z') + i * 3_600_000), values: [i, i, i] }]);
      }
    })();
    const results = await Promise.all([
      backfill(db, { timezone: 'UTC', start: '2024-04-01', end: '2024-04-07' }),
      backfill(db, { timezone: 'UTC', start: '2024-04-04', end: '2024-04-10' }),
      a.runOnce('during backfills'),
      writer,
    ]);
    expect(results[0].days + results[1].days).toBe(14);
    // Whatever committed last, one more run over the marks left makes the table exact.
    await a.runOnce('settle');
    await expectHourlyMatchesRaw(db, 'UTC');
    expect(await countDirtyHours(db)).toBe(0);
  });

  it('exports the metrics of docs/interfaces.md on /metrics (port 0)', async () => {
    const { db } = database();
    const metrics = createAggregatorMetrics();
    const { server, port } = await serveMetrics(metrics.registry, 0, '127.0.0.1');
    try {
      await insertReadings(db, [{ loc_id: 'M-01', at: '2024-06-01T00:10:00Z', values: [1, 2, 3] }]);
      const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-06-01T02:00:00Z'), metrics });
      await aggregator.runOnce('test');
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      const text = await response.text();
      for (const name of [
        'plant_aggregator_run_duration_seconds_bucket',
        'plant_aggregator_dirty_hours',
        'plant_aggregator_raw_rows_scanned_total',
        'plant_aggregator_lag_seconds',
        'plant_aggregator_last_success_timestamp_seconds',
        'plant_aggregator_last_verify_timestamp_seconds',
        'plant_aggregator_failures_total',
        'plant_aggregator_process_cpu_seconds_total',
      ]) {
        expect(text).toContain(name);
      }
      expect(text).toMatch(/plant_aggregator_hours_total\{outcome="written"\} 1\n/);
      expect(text).toMatch(/plant_aggregator_raw_rows_scanned_total 1\n/);
      expect(text).toMatch(/plant_aggregator_lag_seconds 3600\n/);
      expect(text).toMatch(/plant_aggregator_last_success_timestamp_seconds 1717207200\n/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
