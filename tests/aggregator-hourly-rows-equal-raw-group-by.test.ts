import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ScheduledAggregator, backfill } from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import { expectHourlyMatchesRaw, hourlyXmins, insertReadings, manualClock, silentLog, storedHourly } from './support/aggregator-fixtures.js';

describe('the hourly rows equal a fresh GROUP BY of the raw rows', () => {
  const database = useTestDatabase();

  it('for NULL metrics, h:00:00.000 and h:59:59.999999 edges and several locations; a second run rewrites nothing', async () => {
    const { db } = database();
    await insertReadings(db, [
      { loc_id: 'A-01', at: '2024-05-01T10:00:00.000Z', values: [20, 40, null] },
      { loc_id: 'A-01', at: '2024-05-01T10:30:00.000Z', values: [22.5, null, null] },
      { loc_id: 'A-01', at: '2024-05-01T10:59:59.999999Z', values: [21.1, 44, null] },
      { loc_id: 'A-01', at: '2024-05-01T11:00:00.000Z', values: [30, 50, 1.5] },
      { loc_id: 'A-02', at: '2024-05-01T10:15:00.000Z', values: [null, null, null] },
      { loc_id: 'A-02', at: '2024-05-01T09:59:59.999999Z', values: [-5.25, 99.9, -0.1] },
      { loc_id: 'B-01', at: '2024-05-01T10:00:00.000001Z', values: [0.1, 0.2, 0.3] },
      { loc_id: 'B-01', at: '2024-05-01T10:00:00.000002Z', values: [0.2, 0.1, 0.3] },
    ]);
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-05-01T12:05:00Z') });
    const first = await aggregator.runOnce('test');
    expect(first?.claimed).toBe(5);
    expect(first?.written).toBe(5);
    const expected = await expectHourlyMatchesRaw(db, 'UTC');
    expect(expected.size).toBe(5);
    // The edges belong to their own hour; an all-NULL metric stays NULL; the all-NULL reading still counts.
    const stored = await storedHourly(db);
    expect(stored.get('A-01@2024-05-01T10:00:00.000Z')).toMatchObject({ sample_count: 3, temperature_max: 22.5, humidity_avg: 42, pcv_temperature_max: null, pcv_temperature_avg: null, ymd: '20240501', hh: '10' });
    expect(stored.get('A-02@2024-05-01T10:00:00.000Z')).toMatchObject({ sample_count: 1, temperature_max: null, temperature_avg: null });
    expect(stored.get('A-02@2024-05-01T09:00:00.000Z')).toMatchObject({ sample_count: 1, temperature_max: -5.25 });

    const before = await hourlyXmins(db);
    await insertReadings(db, [{ loc_id: 'A-01', at: '2024-05-01T10:45:00Z', values: [21.1, 44, null] }]);
    await sql`DELETE FROM temperature_raw WHERE loc_id = 'A-01' AND capture_dt = '2024-05-01T10:45:00Z'`.execute(db);
    const second = await aggregator.runOnce('test');
    // The hour was marked twice, recomputed once, and came out unchanged: no new row version.
    expect(second).toMatchObject({ claimed: 1, written: 0, unchanged: 1, removed: 0 });
    const third = await aggregator.runOnce('test');
    expect(third).toMatchObject({ claimed: 0, written: 0 });
    expect(await hourlyXmins(db)).toEqual(before);
  });

  it('for updated and deleted raw rows: values follow, an hour without raw rows loses its row', async () => {
    const { db } = database();
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-05-02T00:00:00Z') });
    await aggregator.runOnce('settle');
    await sql`UPDATE temperature_raw SET temperature = 99 WHERE loc_id = 'A-01' AND capture_dt = '2024-05-01T10:30:00Z'`.execute(db);
    // Move a reading to another hour: both hours are re-aggregated.
    await sql`UPDATE temperature_raw SET capture_dt = '2024-05-01T13:10:00Z' WHERE loc_id = 'A-01' AND capture_dt = '2024-05-01T11:00:00Z'`.execute(db);
    await sql`DELETE FROM temperature_raw WHERE loc_id = 'A-02'`.execute(db);
    const report = await aggregator.runOnce('test');
    expect(report).toMatchObject({ claimed: 5, written: 2, removed: 3 });
    await expectHourlyMatchesRaw(db, 'UTC');
    const stored = await storedHourly(db);
    expect(stored.get('A-01@2024-05-01T10:00:00.000Z')?.temperature_max).toBe(99);
    expect(stored.has('A-01@2024-05-01T11:00:00.000Z')).toBe(false);
    expect([...stored.keys()].filter((key) => key.startsWith('A-02'))).toEqual([]);
  });

  it('only aggregates complete hours: the current hour waits for its end', async () => {
    const { db } = database();
    await insertReadings(db, [{ loc_id: 'C-01', at: '2024-06-01T08:10:00Z', values: [1, 2, 3] }]);
    const clock = manualClock('2024-06-01T08:59:59.999Z');
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock });
    expect(await aggregator.runOnce('test')).toMatchObject({ claimed: 0, dirtyHoursLeft: 1 });
    clock.set('2024-06-01T09:00:00Z');
    expect(await aggregator.runOnce('test')).toMatchObject({ claimed: 1, written: 1, dirtyHoursLeft: 0 });
    await expectHourlyMatchesRaw(db, 'UTC');
  });

  it('a backfill over data that the run already aggregated, and a second backfill, rewrite zero rows (xmin)', async () => {
    const { db } = database();
    const before = await hourlyXmins(db);
    const first = await backfill(db, { timezone: 'UTC', start: '2024-04-30', end: '2024-06-02' });
    expect(first.written).toBe(0);
    expect(first.days).toBe(34);
    expect(await hourlyXmins(db)).toEqual(before);
    // Corrupt one row behind the aggregator's back: the next backfill rewrites exactly that row.
    await sql`UPDATE temperature SET temperature_avg = temperature_avg + 1e-6 WHERE loc_id = 'C-01'`.execute(db);
    const corrupted = await hourlyXmins(db);
    const second = await backfill(db, { timezone: 'UTC', start: '2024-04-30', end: '2024-06-02' });
    expect(second).toMatchObject({ written: 1, removed: 0 });
    await expectHourlyMatchesRaw(db, 'UTC');
    const third = await backfill(db, { timezone: 'UTC', start: '2024-04-30', end: '2024-06-02' });
    expect(third.written).toBe(0);
    const after = await hourlyXmins(db);
    for (const [key, xmin] of corrupted) if (!key.startsWith('C-01')) expect(after.get(key), key).toBe(xmin);
  });

  it('averages deterministically whatever the summation order: re-aggregating with another plan rewrites nothing', async () => {
    const { db } = database();
    // Values whose float sum depends on order (0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1 in binary).
    const readings = Array.from({ length: 600 }, (_, i) => ({
      loc_id: 'F-01',
      at: new Date(Date.UTC(2024, 6, 1, 5, 0, i * 6)),
      values: [[0.1, 0.2, 0.3, 1e8, 1e-8][i % 5] ?? 0, (i * 0.1) % 3, 1 / (i + 1)] as [number, number, number],
    }));
    await insertReadings(db, readings);
    await backfill(db, { timezone: 'UTC', start: '2024-07-01', end: '2024-07-01' });
    const before = await hourlyXmins(db);
    // Rewrite the raw rows in reverse physical order: the range scan now feeds the aggregates
    // the same values backwards (a float sum would differ in the last bits).
    await db.transaction().execute(async (trx) => {
      await sql`CREATE TEMP TABLE f01 ON COMMIT DROP AS SELECT * FROM temperature_raw WHERE loc_id = 'F-01'`.execute(trx);
      await sql`DELETE FROM temperature_raw WHERE loc_id = 'F-01'`.execute(trx);
      await sql`INSERT INTO temperature_raw SELECT * FROM f01 ORDER BY capture_dt DESC`.execute(trx);
    });
    const { rows: order } = await sql<{ capture_dt: Date }>`SELECT capture_dt FROM temperature_raw WHERE loc_id = 'F-01' ORDER BY ctid LIMIT 2`.execute(db);
    expect(order[0].capture_dt.getTime()).toBeGreaterThan(order[1].capture_dt.getTime());
    const again = await backfill(db, { timezone: 'UTC', start: '2024-07-01', end: '2024-07-01' });
    // And the run's per-hour path (primary-key order) over the hours the rewrite marked.
    const run = await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-08-01T00:00:00Z') }).runOnce('test');
    expect(run?.claimed).toBeGreaterThan(0);
    expect(again.written + (run?.written ?? 0)).toBe(0);
    expect(await hourlyXmins(db)).toEqual(before);
    await expectHourlyMatchesRaw(db, 'UTC', { locId: 'F-01' });
  });
});

describe('DST with PLANT_TIMEZONE=Europe/Berlin', () => {
  const database = useTestDatabase();
  const tz = 'Europe/Berlin';

  it('neither merges nor drops an hour; ymd/hh are local on both sides, the repeated hour included', async () => {
    const { db } = database();
    // Every 20 minutes across both 2024 changes (31 March: 02:00 -> 03:00; 27 October: 03:00 -> 02:00).
    const readings: { loc_id: string; at: Date; values: [number, number, number] }[] = [];
    for (const [from, to] of [
      ['2024-03-30T20:00:00Z', '2024-03-31T06:00:00Z'],
      ['2024-10-26T20:00:00Z', '2024-10-27T06:00:00Z'],
    ] as const) {
      for (let t = Date.parse(from); t < Date.parse(to); t += 20 * 60_000) readings.push({ loc_id: 'D-01', at: new Date(t), values: [t % 7, t % 11, t % 13] });
    }
    await insertReadings(db, readings);
    const aggregator = new ScheduledAggregator({ db, timezone: tz, log: silentLog, clock: manualClock('2024-11-01T00:00:00Z') });
    await aggregator.runOnce('test');
    const expected = await expectHourlyMatchesRaw(db, tz);
    expect(expected.size).toBe(20);
    const stored = await storedHourly(db);
    const local = (iso: string) => {
      const row = stored.get(`D-01@${iso}`);
      return row ? `${row.ymd} ${row.hh}` : undefined;
    };
    // Spring: 00:00Z is 01 CET, 01:00Z is 03 CEST; local 02 does not exist and no hour is lost.
    expect(local('2024-03-31T00:00:00.000Z')).toBe('20240331 01');
    expect(local('2024-03-31T01:00:00.000Z')).toBe('20240331 03');
    expect([...stored.values()].filter((row) => row.ymd === '20240331' && row.hh === '02')).toEqual([]);
    // Autumn: local 02 happens twice (00:00Z CEST and 01:00Z CET): two rows, not one merged.
    expect(local('2024-10-27T00:00:00.000Z')).toBe('20241027 02');
    expect(local('2024-10-27T01:00:00.000Z')).toBe('20241027 02');
    expect(local('2024-10-26T21:00:00.000Z')).toBe('20241026 23');
    expect(local('2024-10-26T22:00:00.000Z')).toBe('20241027 00');
    expect(stored.get('D-01@2024-10-27T00:00:00.000Z')?.sample_count).toBe(3);
    expect(stored.get('D-01@2024-10-27T01:00:00.000Z')?.sample_count).toBe(3);
  });

  it('a backfill of the local day covers its 23 or 25 hours exactly', async () => {
    const { db } = database();
    await sql`DELETE FROM temperature_raw`.execute(db);
    await sql`DELETE FROM temperature`.execute(db);
    await sql`DELETE FROM raw_dirty_hour`.execute(db);
    const hourly = (from: string, hours: number) =>
      Array.from({ length: hours }, (_, i) => ({ loc_id: 'D-02', at: new Date(Date.parse(from) + i * 3_600_000 + 60_000), values: [i, i, i] as [number, number, number] }));
    // A day and a half around each change, so that hours outside the local day exist too.
    await insertReadings(db, [...hourly('2024-03-30T12:00:00Z', 48), ...hourly('2024-10-26T12:00:00Z', 48)]);
    const spring = await backfill(db, { timezone: tz, start: '2024-03-31', end: '2024-03-31' });
    expect(spring.hours).toBe(23);
    const autumn = await backfill(db, { timezone: tz, start: '2024-10-27', end: '2024-10-27' });
    expect(autumn.hours).toBe(25);
    const stored = await storedHourly(db);
    expect(new Set([...stored.values()].map((row) => row.ymd))).toEqual(new Set(['20240331', '20241027']));
    expect([...stored.values()].filter((row) => row.ymd === '20240331')).toHaveLength(23);
    expect([...stored.values()].filter((row) => row.ymd === '20241027')).toHaveLength(25);
    await expectHourlyMatchesRaw(db, tz, { from: new Date('2024-03-30T23:00:00Z'), to: new Date('2024-03-31T22:00:00Z') });
    await expectHourlyMatchesRaw(db, tz, { from: new Date('2024-10-26T22:00:00Z'), to: new Date('2024-10-27T23:00:00Z') });
  });
});
