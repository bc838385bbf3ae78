import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestDatabase } from './support/database.js';
import { insertHourly } from './support/api-app.js';
import { runBin } from './support/processes.js';

describe('aggregator prune with HISTORY_RETENTION (the compiled bin)', () => {
  const database = useTestDatabase();

  it('removes superseded versions and tombstones older than the retention, keeps newer ones, and records the 410 horizon', async () => {
    const { db } = database();
    const env = { ...database().env, PLANT_TIMEZONE: 'UTC', LOG_LEVEL: 'warn' };
    await insertHourly(database(), [
      { locId: 'P-01', bucket: new Date('2024-05-01T10:00:00Z'), temperature: 20, humidity: 40 },
      { locId: 'P-01', bucket: new Date('2024-05-01T11:00:00Z'), temperature: 20, humidity: 40 },
    ]);
    // Three old versions (two updates, one delete) and an old tombstone, 40 days ago; then a recent version.
    await sql`UPDATE temperature SET temperature_max = 30 WHERE loc_id = 'P-01'`.execute(db);
    await sql`DELETE FROM temperature WHERE bucket = '2024-05-01T11:00:00Z'`.execute(db);
    await sql`UPDATE temperature_history SET superseded_at = now() - interval '40 days'`.execute(db);
    await sql`UPDATE temperature_tombstone SET deleted_at = now() - interval '40 days'`.execute(db);
    const { rows: tombstones } = await sql<{ revision: number }>`SELECT revision FROM temperature_tombstone`.execute(db);
    await sql`UPDATE temperature SET temperature_max = 31 WHERE loc_id = 'P-01'`.execute(db);

    const tooShort = await runBin('aggregator', ['prune'], { ...env, HISTORY_RETENTION: '1h' });
    expect(tooShort.code).toBe(2);
    expect(tooShort.stderr).toMatch(/HISTORY_RETENTION/);

    // Raw retention off: only the history is pruned.
    const pruned = await runBin('aggregator', ['prune'], { ...env, HISTORY_RETENTION: '30d' });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/3 superseded hourly version\(s\) and 1 tombstone\(s\) removed; feed cursors below revision \d+ must restart from after=0/);
    const { rows } = await sql<{ versions: number; tombstones: number; through: number }>`
      SELECT (SELECT count(*)::int FROM temperature_history) AS versions, (SELECT count(*)::int FROM temperature_tombstone) AS tombstones,
             (SELECT tombstones_pruned_through FROM aggregator_state) AS through`.execute(db);
    expect(rows).toEqual([{ versions: 1, tombstones: 0, through: tombstones[0]?.revision }]);
  });
});
