import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { aggregateDirtyHours, backfill } from '../aggregator/index.js';
import { appendAuditReturningId } from '../db/index.js';
import { startApi, type RunningApi } from './support/api-app.js';
import { insertReadings, silentLog } from './support/aggregator-fixtures.js';
import { useTestDatabase } from './support/database.js';

interface Version {
  revision_from: number;
  revision_to: number | null;
  current: boolean;
  cause: string;
  audit_id: number | null;
  produced_at: string;
  superseded_at: string | null;
  superseded_by: string | null;
  superseded_audit_id: number | null;
  row: { loc_id: string; bucket: string; temperature_max: number; sample_count: number };
}

describe('GET /v1/locations/{locId}/hourly/{bucket}/history', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  let auditId = 0;
  beforeAll(async () => {
    const { db } = database();
    const run = () => aggregateDirtyHours(db, { timezone: 'UTC', completeBefore: new Date('2024-06-01T00:00:00Z'), batchSize: 100, log: silentLog });
    await sql`INSERT INTO location (loc_id) VALUES ('V-01'), ('V-02')`.execute(db);
    await insertReadings(db, [{ loc_id: 'V-01', at: '2024-05-01T10:01:00Z', values: [20, 50, null] }]);
    await run();
    await insertReadings(db, [{ loc_id: 'V-01', at: '2024-05-01T10:02:00Z', values: [25, 50, null] }]);
    await run();
    await sql`UPDATE temperature SET temperature_max = 0 WHERE loc_id = 'V-01'`.execute(db);
    auditId = await appendAuditReturningId(db, { actor: 'test', action: 'aggregator.backfill', subject: '2024-05-01', after: { status: 'started' } });
    await backfill(db, { timezone: 'UTC', start: '2024-05-01', end: '2024-05-01', auditId });
    api = await startApi(database());
  });
  afterAll(async () => {
    await api.close();
  });
  const get = async (path: string) => {
    const response = await fetch(`${api.url}/v1${path}`);
    return { status: response.status, body: (await response.json()) as { data: Version[]; detail?: string } };
  };

  it('lists the current version and every superseded one, newest first, with contiguous ranges, causes and the audit link', async () => {
    const { status, body } = await get('/locations/V-01/hourly/2024-05-01T10:00:00Z/history');
    expect(status).toBe(200);
    expect(body.data.map((version) => [version.cause, version.row.temperature_max, version.row.sample_count])).toEqual([
      ['backfill', 25, 2],
      ['manual', 0, 2],
      ['late-data', 25, 2],
      ['scheduled-run', 20, 1],
    ]);
    expect(body.data[0]).toMatchObject({ current: true, revision_to: null, audit_id: auditId, superseded_by: null });
    expect(body.data[1]).toMatchObject({ current: false, superseded_by: 'backfill', superseded_audit_id: auditId });
    for (let i = 1; i < body.data.length; i += 1) expect(body.data[i]?.revision_to).toBe(body.data[i - 1]?.revision_from);
    expect(body.data[3]?.row).toMatchObject({ loc_id: 'V-01', bucket: '2024-05-01T10:00:00.000Z' });
    // An offset other than Z names the same hour.
    expect((await get('/locations/V-01/hourly/2024-05-01T12:00:00+02:00/history')).body.data).toHaveLength(4);
  });

  it('an hour that never had a row is an empty list; an unknown location 404; a bucket that is not an hour start 400', async () => {
    expect(await get('/locations/V-02/hourly/2024-05-01T10:00:00Z/history')).toEqual({ status: 200, body: { data: [] } });
    expect((await get('/locations/NOPE/hourly/2024-05-01T10:00:00Z/history')).status).toBe(404);
    for (const bucket of ['2024-05-01T10:30:00Z', '2024-05-01', 'yesterday', '2024-05-01T10:00:00']) {
      const { status, body } = await get(`/locations/V-01/hourly/${encodeURIComponent(bucket)}/history`);
      expect(status, bucket).toBe(400);
      expect(body.detail, bucket).toMatch(/^bucket: /);
    }
  });
});
