import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { aggregateDirtyHours, backfill } from '../aggregator/index.js';
import { hourlyTableEntries, type Database } from '../db/index.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';
import { generateReadings, insertReadings, silentLog, until } from './support/aggregator-fixtures.js';
import { useTestDatabase } from './support/database.js';

interface Entry {
  op: 'upsert' | 'delete';
  revision: number;
  loc_id: string;
  bucket: string;
}

const LOCATIONS = ['C-01', 'C-02', 'C-03'];
const hour = (h: number) => new Date(Date.UTC(2024, 4, 1, h)).toISOString();
const run = (db: Kysely<Database>) => aggregateDirtyHours(db, { timezone: 'UTC', completeBefore: new Date('2024-06-01T00:00:00Z'), batchSize: 4, log: silentLog });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a consumer that follows /v1/changes while the aggregator writes', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  beforeAll(async () => {
    await database().pool.query(`INSERT INTO location (loc_id) SELECT unnest($1::text[])`, [LOCATIONS]);
    // Rows outside every aggregator writer's range (no raw rows, before the backfilled day), for the slow manual writer.
    await insertHourly(database(), hoursOf('Z-01', new Date('2024-04-01T00:00:00Z'), 2).map((seed) => ({ ...seed, expectedCount: 60 })));
    api = await startApi(database());
  });
  afterAll(async () => {
    await api.close();
  });

  it('ends byte-for-byte equal to the hourly table, never seeing a revision out of order', async () => {
    const { db, url, schema } = database();
    const state = new Map<string, string>();
    const served: number[] = [];
    let cursor = 0;
    let writing = true;
    let pages = 0;
    const consumer = (async () => {
      for (;;) {
        const done = !writing;
        const response = await fetch(`${api.url}/v1/changes?after=${cursor}&limit=7${done ? '' : '&wait=2s'}`);
        expect(response.status).toBe(200);
        const page = (await response.json()) as { data: Entry[]; next_after: number };
        pages += 1;
        for (const entry of page.data) {
          served.push(entry.revision);
          const key = `${entry.loc_id}@${entry.bucket}`;
          if (entry.op === 'delete') state.delete(key);
          else state.set(key, JSON.stringify(entry));
        }
        cursor = page.next_after;
        if (done && page.data.length === 0) return;
      }
    })();

    // Scheduled runs over new raw rows, one hour at a time.
    const scheduled = async () => {
      for (let h = 0; h < 6; h += 1) {
        await generateReadings(db, { locIds: LOCATIONS, from: hour(h), to: hour(h + 1), stepSeconds: 120 });
        await run(db);
      }
    };
    // Late readings into hours that may already be aggregated.
    const late = async () => {
      for (let i = 0; i < 6; i += 1) {
        await insertReadings(db, [{ loc_id: 'C-01', at: new Date(Date.parse(hour(i % 3)) + 61_000 + i * 1000).toISOString(), values: [30 + i, 50, null] }]);
        await run(db);
        await pause(20);
      }
    };
    // A tampered location repaired by a backfill of the day.
    const backfilled = async () => {
      await pause(100);
      await sql`UPDATE temperature SET temperature_avg = -1 WHERE loc_id = 'C-02'`.execute(db);
      await backfill(db, { timezone: 'UTC', start: '2024-05-01', end: '2024-05-01' });
    };
    // An hour whose raw rows are deleted: the run removes it (tombstone).
    const removed = async () => {
      await pause(150);
      await sql`DELETE FROM temperature_raw WHERE loc_id = 'C-03' AND capture_dt >= ${hour(1)} AND capture_dt < ${hour(2)}`.execute(db);
      await run(db);
    };
    // A threshold correction valid from the past: its hours are re-aggregated by a run.
    const threshold = async () => {
      await pause(200);
      await sql`INSERT INTO location_threshold (loc_id, valid_from, temperature_max, changed_by, reason)
                VALUES ('C-02', ${hour(0)}, 22, 'test', 'tighter')`.execute(db);
      await run(db);
    };
    // A slow manual writer: an open transaction holds the feed for a while, then commits. No
    // other writer touches its row, so a consumer that skipped its revision would never get the
    // row's last version.
    const slow = async () => {
      await until(async () => (await sql`SELECT 1 FROM temperature WHERE loc_id = 'C-03' AND bucket = ${hour(0)}`.execute(db)).rows.length > 0, 10_000, 'hour 0 of C-03');
      await pause(50);
      const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query(`UPDATE temperature SET expected_count = 99 WHERE loc_id = 'Z-01' AND bucket = '2024-04-01T01:00:00Z'`);
        // A higher revision commits meanwhile (and wakes the consumer).
        // (A row outside every aggregator writer's range: their upserts would wait for our lock.)
        await sql`UPDATE temperature SET expected_count = expected_count + 1 WHERE loc_id = 'Z-01' AND bucket = '2024-04-01T00:00:00Z'`.execute(db);
        await pause(300);
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
    };
    await Promise.all([scheduled(), late(), backfilled(), removed(), threshold(), slow()]);
    await run(db);
    writing = false;
    await consumer;

    const table = await hourlyTableEntries(db);
    const consumed = [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
    expect(table.length).toBeGreaterThan(10);
    expect(consumed).toEqual(table.map((entry) => JSON.stringify(JSON.parse(entry))));
    expect(served).toEqual([...served].sort((a, b) => a - b));
    expect(new Set(served).size).toBe(served.length);
    // The run really removed an hour and the consumer saw it go.
    expect([...state.keys()].some((key) => key.startsWith('C-03@2024-05-01T01'))).toBe(false);
    expect(pages).toBeGreaterThan(3);
  });
});
