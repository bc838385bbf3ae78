import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestDatabase } from './support/database.js';
import { killAllBins, runBin, startBin } from './support/processes.js';
import { ScheduledAggregator } from '../aggregator/index.js';
import { expectHourlyMatchesRaw, generateReadings, hourlyXmins, manualClock, silentLog, storedHourly } from './support/aggregator-fixtures.js';

const JANUARY = { from: new Date('2024-01-01T00:00:00Z'), to: new Date('2024-02-01T00:00:00Z') };

describe('aggregator backfill and verify (the compiled bin)', () => {
  const database = useTestDatabase();
  const env = () => ({ ...database().env, PLANT_TIMEZONE: 'UTC', LOG_LEVEL: 'info' });
  afterAll(killAllBins);

  it('backfills exactly the 744 hours of January 2024 for one --location, then for all, and nothing outside', async () => {
    const { db } = database();
    // Data from 30 December to 2 February, so that hours just outside January exist.
    await generateReadings(db, { locIds: ['J-01', 'J-02', 'J-03'], from: '2023-12-30T00:00:00Z', to: '2024-02-02T00:00:00Z', stepSeconds: 900 });

    const one = await runBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-31', '--location', 'J-02'], env());
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/31 day\(s\), 744 hour\(s\) with data; 744 written, 0 unchanged, 0 removed; 2976 raw rows read/);
    const afterOne = await storedHourly(db);
    expect(afterOne.size).toBe(744);
    expect([...afterOne.values()].every((row) => row.loc_id === 'J-02' && row.bucket >= '2024-01-01' && row.bucket < '2024-02-01')).toBe(true);
    await expectHourlyMatchesRaw(db, 'UTC', { ...JANUARY, locId: 'J-02' });

    const all = await runBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-31'], env());
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/2232 hour\(s\) with data; 1488 written, 744 unchanged, 0 removed/);
    // A log line per day when stderr is not a terminal.
    expect(all.stderr.match(/backfill day 2024-01-\d\d done/g)).toHaveLength(31);
    const stored = await storedHourly(db);
    expect(stored.size).toBe(3 * 744);
    expect([...stored.values()].filter((row) => row.bucket < '2024-01-01' || row.bucket >= '2024-02-01')).toEqual([]);
    await expectHourlyMatchesRaw(db, 'UTC', JANUARY);

    const before = await hourlyXmins(db);
    const again = await runBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-31'], env());
    expect(again.stdout).toMatch(/0 written, 2232 unchanged, 0 removed/);
    expect(await hourlyXmins(db)).toEqual(before);
  });

  it('verify lists every wrong hour and exits 1; --dry-run reports what a backfill would change and writes nothing', async () => {
    const { db } = database();
    // A backfill leaves the dirty marks of the inserts to the scheduled run; until it has taken
    // them, verify counts those hours as pending, not wrong. Let the run take them.
    const run = await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-02-03T00:00:00Z') }).runOnce('test');
    // It writes only the hours outside January (30-31 December, 1 February), which no backfill covered.
    expect(run).toMatchObject({ written: 72 * 3, dirtyHoursLeft: 0 });
    const ok = await runBin('aggregator', ['verify', '--start', '2024-01-01', '--end', '2024-01-31'], env());
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/2232 hour\(s\) with data, \d+ raw rows, 0 wrong hour\(s\), 0 pending \(dirty or current\)/);

    await sql`UPDATE temperature SET temperature_max = temperature_max + 0.5 WHERE loc_id = 'J-01' AND bucket = '2024-01-05T05:00:00Z'`.execute(db);
    await sql`DELETE FROM temperature WHERE loc_id = 'J-03' AND bucket = '2024-01-20T23:00:00Z'`.execute(db);
    await sql`INSERT INTO temperature (loc_id, bucket, ymd, hh, sample_count) VALUES ('J-09', '2024-01-31T12:00:00Z', '20240131', '12', 4)`.execute(db);
    // A difference in the 15th digit of an average is within the contract: not reported.
    await sql`UPDATE temperature SET temperature_avg = temperature_avg * (1 + 1e-13) WHERE loc_id = 'J-02' AND bucket = '2024-01-10T10:00:00Z'`.execute(db);

    const bad = await runBin('aggregator', ['verify', '--start', '2024-01-01', '--end', '2024-01-31'], env());
    expect(bad.code).toBe(1);
    const lines = bad.stdout.trim().split('\n');
    expect(lines.slice(0, -1)).toEqual([
      expect.stringMatching(/^2024-01-05T05:00:00Z J-01 wrong: temperature_max stored=[\d.]+ fresh=[\d.]+$/),
      expect.stringMatching(/^2024-01-20T23:00:00Z J-03 missing: raw rows give \{.*"sample_count":4.*\} but there is no hourly row$/),
      expect.stringMatching(/^2024-01-31T12:00:00Z J-09 extra: hourly row .* but no raw rows$/),
    ]);
    expect(lines.at(-1)).toMatch(/3 wrong hour\(s\)/);

    const before = await hourlyXmins(db);
    const dry = await runBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-31', '--dry-run'], env());
    expect(dry.code, dry.stderr).toBe(0);
    // The 1e-13 change is rewritten by a real backfill (exact comparison), so it counts here too.
    expect(dry.stdout).toMatch(/^dry run, nothing written: .* 3 would be written, 2229 unchanged, 1 would be removed/);
    expect(await hourlyXmins(db)).toEqual(before);

    const fix = await runBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-31'], env());
    expect(fix.stdout).toMatch(/3 written, 2229 unchanged, 1 removed/);
    await expectHourlyMatchesRaw(db, 'UTC', JANUARY);
    expect((await runBin('aggregator', ['verify', '--start', '2024-01-01', '--end', '2024-01-31'], env())).code).toBe(0);
  });

  it('rejects bad input with exit 2 and a message', async () => {
    const cases: [string[], RegExp][] = [
      [['backfill', '--start', '2024-02-30', '--end', '2024-03-01'], /--start: expected a date YYYY-MM-DD, got "2024-02-30"/],
      [['backfill', '--start', '2024-03-02', '--end', '2024-03-01'], /--start 2024-03-02 is after --end 2024-03-01/],
      [['backfill', '--end', '2024-03-01'], /--start YYYY-MM-DD is required/],
      [['backfill', '--start', '2024-03-01', '--end', '2024-03-01', '--loc', 'x'], /Unknown option '--loc'/],
      [['verify', '--start', '01/03/2024', '--end', '2024-03-01'], /--start: expected a date/],
    ];
    for (const [args, message] of cases) {
      const result = await runBin('aggregator', args, env());
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });

  it('killed mid-way, the same command run again gives the table of an uninterrupted backfill', async () => {
    const { db, pool } = database();
    await sql`DELETE FROM temperature`.execute(db);
    // An hourly row of day 10 is locked by another transaction: the backfill commits days 1-9
    // and then waits there, which is where it is killed.
    await sql`INSERT INTO temperature (loc_id, bucket, ymd, hh, temperature_max, sample_count) VALUES ('J-01', '2024-01-10T05:00:00Z', '20240110', '05', -1000, 1)`.execute(db);
    const blocker = await pool.connect();
    let killedAt: string;
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM temperature WHERE loc_id = 'J-01' AND bucket = '2024-01-10T05:00:00Z' FOR UPDATE`);
      const running = startBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-31'], env());
      await running.waitFor(/backfill day 2024-01-09 done/);
      running.child.kill('SIGKILL');
      killedAt = String(await running.exited());
      expect(running.stderr()).not.toMatch(/backfill day 2024-01-10 done/);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect(killedAt).toBe('SIGKILL');
    // Half done: days 1-9 exact, day 10 untouched, the rest missing.
    await expectHourlyMatchesRaw(db, 'UTC', { from: JANUARY.from, to: new Date('2024-01-10T00:00:00Z') });
    const partial = await storedHourly(db, { from: new Date('2024-01-10T00:00:00Z'), to: JANUARY.to });
    expect([...partial.values()]).toEqual([expect.objectContaining({ loc_id: 'J-01', temperature_max: -1000 })]);

    const rerun = await runBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-31'], env());
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/1584 written, 648 unchanged, 0 removed/);
    // The same table as the uninterrupted backfill of the first test: the raw GROUP BY, exactly January.
    await expectHourlyMatchesRaw(db, 'UTC', JANUARY);
    expect((await storedHourly(db)).size).toBe(3 * 744);
  });
});
