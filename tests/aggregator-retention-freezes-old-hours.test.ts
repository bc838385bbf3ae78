import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ScheduledAggregator, backfill, pruneRaw, readState, verify } from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import { killAllBins, runBin } from './support/processes.js';
import { expectHourlyMatchesRaw, generateReadings, hourlyXmins, insertReadings, manualClock, silentLog, storedHourly } from './support/aggregator-fixtures.js';

const DAY_MS = 86_400_000;

describe('raw retention', () => {
  const database = useTestDatabase();
  afterAll(killAllBins);

  it('prunes only aggregated hours and leaves every frozen hour untouched by later runs, backfills and verifies', async () => {
    const { db, pool } = database();
    await generateReadings(db, { locIds: ['R-01', 'R-02'], from: '2024-03-01T00:00:00Z', to: '2024-03-06T00:00:00Z', stepSeconds: 600 });
    const clock = manualClock('2024-03-06T00:00:00Z');
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock });
    await aggregator.runOnce('initial');
    // Hour 10 of 2 March is dirty and not aggregated yet when prune starts ...
    await insertReadings(db, [{ loc_id: 'R-01', at: '2024-03-02T10:05:05Z', values: [77, 77, 77] }]);
    // ... and hour 20 is being written by a transaction that has not committed.
    await insertReadings(db, [{ loc_id: 'R-02', at: '2024-03-02T20:05:05Z', values: [1, 1, 1] }]);
    const writer = await pool.connect();
    let horizon: Date | undefined;
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
                          VALUES ('R-02', '2024-03-02T20:06:06Z', 88, 88, 88, 'slow')`);
      const report = await pruneRaw(db, { timezone: 'UTC', retentionMs: 3 * DAY_MS, now: clock(), batchSize: 100, deleteSliceHours: 5 });
      horizon = report.frozenBefore;
      // The target was 3 March 00:00; the unaggregated hour held by the writer stops the horizon short of it.
      expect(horizon?.toISOString()).toBe('2024-03-02T20:00:00.000Z');
      expect(report.hoursAggregated).toBe(1);
      expect(report.rawRowsDeleted).toBe(2 * (24 + 20) * 6 + 1);
      await writer.query('COMMIT');
    } finally {
      writer.release();
    }
    expect((await readState(db)).frozenBefore?.toISOString()).toBe('2024-03-02T20:00:00.000Z');
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM temperature_raw WHERE capture_dt < '2024-03-02T20:00:00Z'`.execute(db);
    expect(rows[0]?.n).toBe(0);
    const frozenFilter = { to: new Date('2024-03-02T20:00:00Z') };
    const frozen = await storedHourly(db, frozenFilter);
    expect(frozen.size).toBe(2 * 44);
    // The dirty hour was aggregated before its raw rows went: it includes the late reading.
    expect(frozen.get('R-01@2024-03-02T10:00:00.000Z')?.temperature_max).toBe(77);
    const frozenXmins = new Map([...(await hourlyXmins(db))].filter(([key]) => frozen.has(key)));

    // The writer's hour is after the horizon: the next run aggregates it.
    await aggregator.runOnce('after prune');
    await expectHourlyMatchesRaw(db, 'UTC', { from: new Date('2024-03-02T20:00:00Z') });
    expect((await storedHourly(db)).get('R-02@2024-03-02T20:00:00.000Z')?.temperature_max).toBe(88);

    // A reading arriving for a frozen hour changes nothing, in a run, a backfill or a verify.
    await insertReadings(db, [{ loc_id: 'R-01', at: '2024-03-01T05:00:00Z', values: [-50, -50, -50] }]);
    const run = await aggregator.runOnce('late reading in a frozen hour');
    expect(run).toMatchObject({ claimed: 0, frozenMarksDropped: 1, dirtyHoursLeft: 0 });
    const filled = await backfill(db, { timezone: 'UTC', start: '2024-02-28', end: '2024-03-05' });
    expect(filled).toMatchObject({ frozenDays: 3, written: 0, removed: 0 });
    expect(filled.frozenBefore?.toISOString()).toBe('2024-03-02T20:00:00.000Z');
    const checked = await verify(db, { timezone: 'UTC', start: '2024-02-28', end: '2024-03-05' });
    expect(checked).toMatchObject({ wrong: [], pending: [], frozenDays: 3 });
    expect(await storedHourly(db, frozenFilter)).toEqual(frozen);
    expect(new Map([...(await hourlyXmins(db))].filter(([key]) => frozen.has(key)))).toEqual(frozenXmins);
    await expectHourlyMatchesRaw(db, 'UTC', { from: new Date('2024-03-02T20:00:00Z') });

    // The next prune drops that reading too; the horizon never moves back.
    const again = await pruneRaw(db, { timezone: 'UTC', retentionMs: 5 * DAY_MS, now: clock(), batchSize: 100 });
    expect(again.frozenBefore?.toISOString()).toBe('2024-03-02T20:00:00.000Z');
    expect(again.rawRowsDeleted).toBe(1);
    expect(await storedHourly(db, frozenFilter)).toEqual(frozen);
  });

  it('aggregator prune uses RAW_RETENTION, and backfill and verify say that the range is frozen', async () => {
    const { db } = database();
    const env = { ...database().env, PLANT_TIMEZONE: 'UTC', LOG_LEVEL: 'warn' };
    const off = await runBin('aggregator', ['prune'], env);
    expect(off.code).toBe(2);
    expect(off.stderr).toMatch(/RAW_RETENTION: raw retention is off/);

    const before = await storedHourly(db);
    const pruned = await runBin('aggregator', ['prune'], { ...env, RAW_RETENTION: '30d' });
    expect(pruned.code, pruned.stderr).toBe(0);
    // Everything is older than 30 days: all raw rows go, every hourly row stays.
    expect(pruned.stdout).toMatch(/raw rows deleted; hours before \S+ are frozen/);
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM temperature_raw`.execute(db);
    expect(rows[0]?.n).toBe(0);
    const horizon = (await readState(db)).frozenBefore;
    expect(horizon && Date.now() - horizon.getTime()).toBeGreaterThanOrEqual(30 * DAY_MS);
    expect(await storedHourly(db)).toEqual(before);

    const filled = await runBin('aggregator', ['backfill', '--start', '2024-03-01', '--end', '2024-03-05'], env);
    expect(filled.code, filled.stderr).toBe(0);
    expect(filled.stdout).toMatch(/0 written, 0 unchanged, 0 removed/);
    expect(filled.stdout).toMatch(/are frozen \(raw retention\): 5 day\(s\) of the range left as they are/);
    const checked = await runBin('aggregator', ['verify', '--start', '2024-03-01', '--end', '2024-03-05'], env);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/0 wrong hour\(s\), 0 pending \(dirty or current\)\nhours before .* are frozen/);
    expect(await storedHourly(db)).toEqual(before);
  });
});
