import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ScheduledAggregator } from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import { killAllBins, runBin } from './support/processes.js';
import { generateReadings, insertReadings, silentLog } from './support/aggregator-fixtures.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

interface JsonReport {
  ok: boolean;
  wrong: { loc_id: string; bucket: string; kind: string; columns: string[] }[];
  pending: { loc_id: string; bucket: string; reason: 'dirty' | 'current' }[];
  repaired: number | null;
}

/**
 * A nightly `aggregator verify --start yesterday --end today`, as cron runs it: the current hour
 * and hours waiting for the next run differ from a fresh aggregation without anything being wrong.
 */
describe('aggregator verify tells wrong from pending, for cron', () => {
  const database = useTestDatabase();
  const env = () => ({ ...database().env, PLANT_TIMEZONE: 'UTC', LOG_LEVEL: 'warn' });
  afterAll(killAllBins);
  const today = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS);
  const yesterday = new Date(today.getTime() - DAY_MS);
  const range = ['--start', yesterday.toISOString().slice(0, 10), '--end', today.toISOString().slice(0, 10)];
  const tampered = new Date(yesterday.getTime() + 7 * HOUR_MS).toISOString().replace('.000Z', 'Z');

  it('exits 0 over a range with the current hour and a dirty hour, and nothing wrong', async () => {
    const { db } = database();
    // Every 10 minutes from yesterday 00:00 up to now: the current hour has readings.
    await generateReadings(db, { locIds: ['V-01', 'V-02'], from: yesterday.toISOString(), to: new Date().toISOString(), stepSeconds: 600 });
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog }).runOnce('test');
    // A late reading for an hour already aggregated: dirty until the next run.
    await insertReadings(db, [{ loc_id: 'V-01', at: new Date(yesterday.getTime() + 5 * HOUR_MS + 30_000), values: [99, 99, 99] }]);

    const result = await runBin('aggregator', ['verify', ...range], env());
    expect(result.code, result.stdout + result.stderr).toBe(0);
    // Two current hours (one per location) and the dirty one; if the hour turned over since the run,
    // the two are dirty instead of current: three pending either way.
    expect(result.stdout).toMatch(/0 wrong hour\(s\), 3 pending \(dirty or current\)/);
    const json = await runBin('aggregator', ['verify', ...range, '--json'], env());
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as JsonReport;
    expect(report).toMatchObject({ ok: true, wrong: [], repaired: null });
    expect(report.pending).toHaveLength(3);
    expect(report.pending).toContainEqual({ loc_id: 'V-01', bucket: new Date(yesterday.getTime() + 5 * HOUR_MS).toISOString().replace('.000Z', 'Z'), reason: 'dirty' });
  });

  it('exits 1 naming a tampered hour; --json lists it; --repair fixes exactly it', async () => {
    const { db } = database();
    await sql`UPDATE temperature SET humidity_min = humidity_min - 1 WHERE loc_id = 'V-02' AND bucket = ${tampered}`.execute(db);

    const bad = await runBin('aggregator', ['verify', ...range], env());
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`^${tampered} V-02 wrong: humidity_min stored=[\\d.]+ fresh=[\\d.]+$`, 'm'));
    expect(bad.stdout).toMatch(/1 wrong hour\(s\), 3 pending/);

    const json = await runBin('aggregator', ['verify', ...range, '--json'], env());
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as JsonReport;
    expect(report.ok).toBe(false);
    expect(report.wrong).toEqual([expect.objectContaining({ loc_id: 'V-02', bucket: tampered, kind: 'changed', columns: ['humidity_min'] })]);

    const repaired = await runBin('aggregator', ['verify', ...range, '--repair'], env());
    expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
    expect(repaired.stdout).toMatch(/1 wrong hour\(s\), 3 pending \(dirty or current\); repaired 1/);
    // Only the wrong hour was rewritten: the dirty one is still left to the next run.
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM raw_dirty_hour WHERE loc_id = 'V-01' AND bucket < ${today}`.execute(db);
    expect(rows[0]?.n).toBe(1);
    const after = await runBin('aggregator', ['verify', ...range, '--json'], env());
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ ok: true, wrong: [] });
  });
});
