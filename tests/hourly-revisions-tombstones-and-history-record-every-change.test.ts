import { describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { aggregateDirtyHours, backfill, verify } from '../aggregator/index.js';
import { appendAuditReturningId, type Database } from '../db/index.js';
import { insertReadings, silentLog } from './support/aggregator-fixtures.js';
import { useTestDatabase } from './support/database.js';

const run = (db: Kysely<Database>) => aggregateDirtyHours(db, { timezone: 'UTC', completeBefore: new Date('2024-06-01T00:00:00Z'), batchSize: 500, log: silentLog });

async function revisions(db: Kysely<Database>): Promise<Map<string, number>> {
  const { rows } = await sql<{ key: string; revision: number }>`
    SELECT loc_id || '@' || to_char(bucket AT TIME ZONE 'UTC', 'HH24') AS key, revision FROM temperature`.execute(db);
  return new Map(rows.map((row) => [row.key, row.revision]));
}
const lastDrawn = async (db: Kysely<Database>) =>
  (await sql<{ last: number | null }>`SELECT pg_sequence_last_value('temperature_revision_seq') AS last`.execute(db)).rows[0]?.last ?? 0;

interface Version {
  revision_from: number;
  revision_to: number;
  change_cause: string;
  change_audit_id: number | null;
  superseded_by: string;
  superseded_audit_id: number | null;
  sample_count: number;
}
const history = async (db: Kysely<Database>, locId: string, hour: string) =>
  (
    await sql<Version>`
      SELECT revision_from, revision_to, change_cause, change_audit_id, superseded_by, superseded_audit_id, sample_count
      FROM temperature_history WHERE loc_id = ${locId} AND bucket = ${hour}::timestamptz ORDER BY revision_from`.execute(db)
  ).rows;

describe('hourly revisions, tombstones and history', () => {
  const database = useTestDatabase();

  it('a re-run or a backfill that changes nothing draws no revision; a change draws a higher one; a removed hour leaves a tombstone', async () => {
    const { db } = database();
    await insertReadings(db, [
      { loc_id: 'R-01', at: '2024-05-01T10:05:00Z', values: [20, 40, null] },
      { loc_id: 'R-01', at: '2024-05-01T11:05:00Z', values: [21, 41, null] },
      { loc_id: 'R-02', at: '2024-05-01T10:10:00Z', values: [22, 42, null] },
    ]);
    await run(db);
    const first = await revisions(db);
    expect([...first.keys()].sort()).toEqual(['R-01@10', 'R-01@11', 'R-02@10']);
    expect(new Set(first.values()).size).toBe(3);
    const drawn = await lastDrawn(db);

    // Nothing changed: a run, a backfill of the day and a verify --repair draw nothing.
    await insertReadings(db, []);
    await run(db);
    await backfill(db, { timezone: 'UTC', start: '2024-05-01', end: '2024-05-01' });
    expect(await lastDrawn(db)).toBe(drawn);
    expect(await revisions(db)).toEqual(first);

    // A late reading into hour 10 of R-01: only that row gets a new, higher revision.
    await insertReadings(db, [{ loc_id: 'R-01', at: '2024-05-01T10:45:00Z', values: [30, 40, null] }]);
    await run(db);
    const second = await revisions(db);
    expect(second.get('R-01@10')).toBeGreaterThan(drawn);
    expect(second.get('R-01@11')).toBe(first.get('R-01@11'));
    expect(second.get('R-02@10')).toBe(first.get('R-02@10'));

    // The hour's raw rows go: the run removes the row and a tombstone carries its own revision.
    await sql`DELETE FROM temperature_raw WHERE loc_id = 'R-02'`.execute(db);
    await run(db);
    const { rows: tombstones } = await sql<{ loc_id: string; revision: number; cause: string }>`SELECT loc_id, revision, cause FROM temperature_tombstone`.execute(db);
    expect(tombstones).toEqual([{ loc_id: 'R-02', revision: (second.get('R-01@10') ?? 0) + 1, cause: 'late-data' }]);

    // The hour comes back: its upsert supersedes the tombstone (which is removed).
    await insertReadings(db, [{ loc_id: 'R-02', at: '2024-05-01T10:20:00Z', values: [23, 43, null] }]);
    await run(db);
    expect((await revisions(db)).get('R-02@10')).toBe((tombstones[0]?.revision ?? 0) + 1);
    expect((await sql`SELECT 1 FROM temperature_tombstone`.execute(db)).rows).toEqual([]);

    // A psql UPDATE that writes the same values draws nothing; one that changes a value does.
    const before = await lastDrawn(db);
    await sql`UPDATE temperature SET updated_at = now(), temperature_max = temperature_max WHERE loc_id = 'R-01'`.execute(db);
    expect(await lastDrawn(db)).toBe(before);
    await sql`UPDATE temperature SET temperature_max = 99 WHERE loc_id = 'R-01' AND bucket = '2024-05-01T11:00:00Z'`.execute(db);
    expect((await revisions(db)).get('R-01@11')).toBe(before + 1);
    expect((await history(db, 'R-01', '2024-05-01T11:00:00Z')).at(-1)).toMatchObject({ superseded_by: 'manual', revision_to: before + 1 });
  });

  it('history keeps every superseded version with contiguous revision ranges and what produced each, backfill linked to its audit entry', async () => {
    const { db } = database();
    const hour = '2024-05-02T08:00:00Z';
    await insertReadings(db, [{ loc_id: 'H-01', at: '2024-05-02T08:01:00Z', values: [20, 50, null] }]);
    await run(db); // v1: scheduled-run
    await insertReadings(db, [{ loc_id: 'H-01', at: '2024-05-02T08:02:00Z', values: [24, 50, null] }]);
    await run(db); // v2: late-data
    // A threshold version valid from the past: only the excursion columns change.
    await sql`INSERT INTO location (loc_id) VALUES ('H-01') ON CONFLICT DO NOTHING`.execute(db);
    await sql`INSERT INTO location_threshold (loc_id, valid_from, temperature_max, changed_by, reason)
              VALUES ('H-01', '2024-05-01T00:00:00Z', 22, 'test', 'tighter limit')`.execute(db);
    await run(db); // v3: threshold-change
    // Tamper, then backfill with an audit entry: v4 manual, v5 backfill.
    await sql`UPDATE temperature SET temperature_avg = 0 WHERE loc_id = 'H-01'`.execute(db);
    const auditId = await appendAuditReturningId(db, { actor: 'test', action: 'aggregator.backfill', subject: '2024-05-02', after: { status: 'started' } });
    await backfill(db, { timezone: 'UTC', start: '2024-05-02', end: '2024-05-02', auditId });
    // verify --repair after another tamper: v6 manual, v7 verify-repair, linked to its own entry.
    await sql`UPDATE temperature SET temperature_max = 0 WHERE loc_id = 'H-01'`.execute(db);
    let repairAudit = 0;
    await verify(db, {
      timezone: 'UTC',
      start: '2024-05-02',
      end: '2024-05-02',
      now: new Date('2024-06-01T00:00:00Z'),
      repair: true,
      auditRepair: async (trx) => (repairAudit = await appendAuditReturningId(trx, { actor: 'test', action: 'aggregator.verify-repair' })),
    });
    expect(repairAudit).toBeGreaterThan(auditId);

    const versions = await history(db, 'H-01', hour);
    const { rows: current } = await sql<{ revision: number; change_cause: string; change_audit_id: number | null }>`
      SELECT revision, change_cause, change_audit_id FROM temperature WHERE loc_id = 'H-01' AND bucket = ${hour}::timestamptz`.execute(db);
    expect(versions.map((version) => version.change_cause)).toEqual(['scheduled-run', 'late-data', 'threshold-change', 'manual', 'backfill', 'manual']);
    expect(current[0]).toMatchObject({ change_cause: 'verify-repair', change_audit_id: repairAudit });
    expect(versions[4]).toMatchObject({ change_audit_id: auditId, superseded_by: 'manual', superseded_audit_id: null });
    expect(versions[3]).toMatchObject({ superseded_by: 'backfill', superseded_audit_id: auditId });
    // Contiguous: each version ends where the next begins, the last where the current begins.
    for (let i = 1; i < versions.length; i += 1) expect(versions[i]?.revision_from).toBe(versions[i - 1]?.revision_to);
    expect(versions.at(-1)?.revision_to).toBe(current[0]?.revision);
    expect(versions.map((version) => version.sample_count)).toEqual([1, 2, 2, 2, 2, 2]);
  });

  it('a writer that deletes an hour by hand leaves a tombstone and a history version (cause manual)', async () => {
    const { db } = database();
    await insertReadings(db, [{ loc_id: 'D-01', at: '2024-05-03T01:00:00Z', values: [20, 50, null] }]);
    await run(db);
    const { rows } = await sql<{ revision: number }>`DELETE FROM temperature WHERE loc_id = 'D-01' RETURNING revision`.execute(db);
    const { rows: tombstone } = await sql<{ revision: number; cause: string }>`SELECT revision, cause FROM temperature_tombstone WHERE loc_id = 'D-01'`.execute(db);
    expect(tombstone).toEqual([{ revision: await lastDrawn(db), cause: 'manual' }]);
    expect(await history(db, 'D-01', '2024-05-03T01:00:00Z')).toMatchObject([{ revision_from: rows[0]?.revision, revision_to: tombstone[0]?.revision, superseded_by: 'manual' }]);
  });
});
