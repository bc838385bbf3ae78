import { describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { ScheduledAggregator, backfill } from '../aggregator/index.js';
import { CLIMATE_COLUMNS, type Database } from '../db/index.js';
import { useTestDatabase } from './support/database.js';
import { hourlyXmins, insertReadings, manualClock, silentLog } from './support/aggregator-fixtures.js';

/**
 * The climate columns of every hourly row against an independent SQL reference over the raw rows
 * and the threshold history. The reference finds each reading's version with a correlated
 * "latest valid_from <= capture_dt, then latest recorded" lookup (not the window-function spans
 * of db/location-thresholds.ts), writes the Magnus formula its own way and sums in float: counts
 * and largest exceedances must be equal, dew point and the Arrhenius sum within a relative 1e-9.
 */
const REFERENCE = sql`
  WITH per_reading AS (
    SELECT r.loc_id, date_trunc('hour', r.capture_dt AT TIME ZONE 'UTC') AS hour, r.temperature AS t, r.humidity AS h, v.*
    FROM temperature_raw r
    LEFT JOIN LATERAL (
      SELECT x.temperature_min AS tmin, x.temperature_max AS tmax, x.humidity_min AS hmin, x.humidity_max AS hmax
      FROM location_threshold x WHERE x.loc_id = r.loc_id AND x.valid_from <= r.capture_dt
      ORDER BY x.valid_from DESC, x.recorded_at DESC, x.version DESC LIMIT 1
    ) AS v ON true
  ),
  with_dew AS (
    SELECT p.*, CASE WHEN p.h > 0 AND p.t IS NOT NULL THEN
      243.04 * (ln(p.h) - ln(100) + (17.625 * p.t) / (243.04 + p.t)) / (17.625 - ln(p.h) + ln(100) - (17.625 * p.t) / (243.04 + p.t)) END AS dew
    FROM per_reading p
  )
  SELECT loc_id || '@' || to_char(hour, 'YYYY-MM-DD"T"HH24:MI:SS".000Z"') AS key,
    avg(dew) AS dew_point_avg, max(dew) AS dew_point_max, count(dew)::int AS dew_point_count,
    CASE WHEN count(tmax) > 0 THEN sum(CASE WHEN t > tmax THEN 1 ELSE 0 END)::int END AS temperature_above_count,
    CASE WHEN count(tmin) > 0 THEN sum(CASE WHEN t < tmin THEN 1 ELSE 0 END)::int END AS temperature_below_count,
    CASE WHEN count(hmax) > 0 THEN sum(CASE WHEN h > hmax THEN 1 ELSE 0 END)::int END AS humidity_above_count,
    CASE WHEN count(hmin) > 0 THEN sum(CASE WHEN h < hmin THEN 1 ELSE 0 END)::int END AS humidity_below_count,
    max(CASE WHEN t > tmax THEN t - tmax END) AS temperature_above_max_delta,
    max(CASE WHEN t < tmin THEN tmin - t END) AS temperature_below_max_delta,
    max(CASE WHEN h > hmax THEN h - hmax END) AS humidity_above_max_delta,
    max(CASE WHEN h < hmin THEN hmin - h END) AS humidity_below_max_delta,
    sum(exp(-83144.0 / 8.314462618 / (t + 273.15))) AS temperature_arrhenius_sum
  FROM with_dew GROUP BY loc_id, hour`;

type ClimateRow = Record<(typeof CLIMATE_COLUMNS)[number], number | null>;

async function expectClimateMatchesReference(db: Kysely<Database>): Promise<Map<string, ClimateRow>> {
  const { rows: reference } = await sql<ClimateRow & { key: string }>`${REFERENCE}`.execute(db);
  const { rows: stored } = await sql<ClimateRow & { key: string }>`
    SELECT loc_id || '@' || to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"') AS key, ${sql.raw(CLIMATE_COLUMNS.join(', '))}
    FROM temperature`.execute(db);
  const storedByKey = new Map(stored.map((row) => [row.key, row]));
  expect([...storedByKey.keys()].sort()).toEqual(reference.map((row) => row.key).sort());
  for (const want of reference) {
    const got = storedByKey.get(want.key);
    for (const column of CLIMATE_COLUMNS) {
      const expected = want[column];
      const actual = got?.[column] ?? null;
      const label = `${want.key} ${column}`;
      if (expected === null || column.endsWith('_count') || column.endsWith('_delta')) expect(actual, label).toBe(expected);
      else {
        expect(actual, label).not.toBeNull();
        expect(Math.abs((actual ?? NaN) - expected), `${label}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.abs(expected));
      }
    }
  }
  return storedByKey;
}

const version = (db: Kysely<Database>, locId: string, validFrom: string, limits: { tmin?: number; tmax?: number; hmin?: number; hmax?: number }) =>
  db
    .insertInto('location_threshold')
    .values({
      loc_id: locId,
      valid_from: validFrom,
      temperature_min: limits.tmin ?? null,
      temperature_max: limits.tmax ?? null,
      humidity_min: limits.hmin ?? null,
      humidity_max: limits.hmax ?? null,
      changed_by: 'test',
      reason: 'test',
    })
    .execute();

/** Readings every 5 minutes from 10:00 to 12:55, swinging across the limits, with NULLs and RH 0. */
function swingingReadings(locId: string) {
  return Array.from({ length: 36 }, (_, i) => {
    const at = new Date(Date.parse('2024-05-01T10:00:00Z') + i * 300_000).toISOString();
    const temperature = i % 11 === 5 ? null : 20 + 8 * Math.sin(i / 2.3) + i / 40;
    const humidity = i === 7 ? 0 : i % 13 === 3 ? null : 45 + 25 * Math.cos(i / 3.1);
    return { loc_id: locId, at, values: [temperature, humidity, null] as [number | null, number | null, null] };
  });
}

describe('dew point, excursions and the Arrhenius sum equal raw rows and the threshold history', () => {
  const database = useTestDatabase();

  it('across a threshold change inside an hour, a location without thresholds, and a later correction of the past', async () => {
    const { db } = database();
    await version(db, 'X-01', '2024-05-01T00:00:00Z', { tmin: 15, tmax: 25, hmin: 30, hmax: 60 });
    // A change at 10:32:30: readings of the 10:00 hour on both sides of it. Humidity limits dropped.
    await version(db, 'X-01', '2024-05-01T10:32:30Z', { tmin: 14, tmax: 22 });
    // One reading exactly at the change: valid_from is inclusive, so the new max (22) applies to it.
    const atChange = { loc_id: 'X-01', at: '2024-05-01T10:32:30Z', values: [23, 50, null] as [number, number, null] };
    await insertReadings(db, [...swingingReadings('X-01'), ...swingingReadings('X-02'), atChange]);
    const clock = manualClock('2024-05-01T13:05:00Z');
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock });
    await aggregator.runOnce('test');
    const first = await expectClimateMatchesReference(db);
    // The change inside the hour: humidity limits in force before 10:32:30 only, and counted.
    expect(first.get('X-01@2024-05-01T10:00:00.000Z')?.humidity_above_count).not.toBeNull();
    expect(first.get('X-01@2024-05-01T11:00:00.000Z')?.humidity_above_count).toBeNull();
    expect(first.get('X-01@2024-05-01T10:00:00.000Z')?.temperature_above_count).toBeGreaterThan(0);
    // No thresholds ever: counts NULL, dew point and Arrhenius sum still there.
    const free = first.get('X-02@2024-05-01T10:00:00.000Z');
    expect(free).toMatchObject({ temperature_above_count: null, humidity_below_count: null, temperature_above_max_delta: null });
    expect(free?.dew_point_count).toBeGreaterThan(0);
    expect(free?.temperature_arrhenius_sum).toBeGreaterThan(0);

    // A correction recorded now for the past: from 11:20 the max was 30, not 22. It marks the
    // hours it affects; the next scheduled run recomputes them and nothing else.
    const before = await hourlyXmins(db);
    await version(db, 'X-01', '2024-05-01T11:20:00Z', { tmin: 14, tmax: 30 });
    const { rows: marks } = await sql<{ loc_id: string; bucket: Date }>`SELECT loc_id, bucket FROM raw_dirty_hour ORDER BY bucket`.execute(db);
    expect(marks.map((mark) => `${mark.loc_id}@${mark.bucket.toISOString()}`)).toEqual(['X-01@2024-05-01T11:00:00.000Z', 'X-01@2024-05-01T12:00:00.000Z']);
    const report = await aggregator.runOnce('scheduled');
    expect(report).toMatchObject({ claimed: 2 });
    const corrected = await expectClimateMatchesReference(db);
    const after = await hourlyXmins(db);
    expect(after.get('X-01@2024-05-01T10:00:00.000Z')).toBe(before.get('X-01@2024-05-01T10:00:00.000Z'));
    expect(after.get('X-02@2024-05-01T12:00:00.000Z')).toBe(before.get('X-02@2024-05-01T12:00:00.000Z'));
    expect(corrected.get('X-01@2024-05-01T12:00:00.000Z')?.temperature_above_count).toBe(0);

    // A correction of an existing version (same valid_from, recorded later) replaces it.
    await version(db, 'X-01', '2024-05-01T10:32:30Z', { tmin: 14, tmax: 21 });
    await aggregator.runOnce('scheduled');
    await expectClimateMatchesReference(db);

    // A second run and a backfill rewrite nothing: the new columns are as stable as the others.
    const settled = await hourlyXmins(db);
    expect(await aggregator.runOnce('again')).toMatchObject({ claimed: 0, written: 0 });
    const summary = await backfill(db, { timezone: 'UTC', start: '2024-05-01', end: '2024-05-01' });
    expect(summary).toMatchObject({ written: 0, removed: 0 });
    expect(await hourlyXmins(db)).toEqual(settled);
  });

  it('versions are never rewritten or removed', async () => {
    const { db } = database();
    await expect(sql`UPDATE location_threshold SET temperature_max = 99`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM location_threshold`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE location_threshold`.execute(db)).rejects.toThrow(/append-only/);
  });
});
