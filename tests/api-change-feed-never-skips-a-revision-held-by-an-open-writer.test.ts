import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { sql } from 'kysely';
import { pruneChangeHistory } from '../db/index.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';
import { until } from './support/aggregator-fixtures.js';
import { useTestDatabase, type TestDatabase } from './support/database.js';
import { REPO } from './support/deploy-expressions.js';

interface Entry {
  op: 'upsert' | 'delete';
  revision: number;
  loc_id: string;
  bucket: string;
  temperature_max?: number | null;
}
interface Page {
  data: Entry[];
  next_after: number;
}

/** The SQL in the ChangeFeedHeld alert's description (prometheus/alerts.yml), as an operator would paste it. */
function changeFeedHeldRunbookQuery(): string {
  const groups = (parse(fs.readFileSync(path.join(REPO, 'prometheus/alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string; annotations?: { description?: string } }[] }[] }).groups;
  const description = groups.flatMap((group) => group.rules).find((rule) => rule.alert === 'ChangeFeedHeld')?.annotations?.description ?? '';
  const query = /SELECT a\.pid[^;]*;/.exec(description)?.[0];
  if (!query) throw new Error('ChangeFeedHeld description names no SELECT a.pid …; query');
  return query;
}

const H = (hour: number) => `2024-05-01T${String(hour).padStart(2, '0')}:00:00Z`;

describe('GET /v1/changes never skips a revision', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  const writers: pg.Client[] = [];

  async function writer(): Promise<pg.Client> {
    const { url, schema } = database();
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await client.connect();
    writers.push(client);
    return client;
  }
  const changes = async (query: string, init?: RequestInit): Promise<{ status: number; page: Page; held: string | null }> => {
    const response = await fetch(`${api.url}/v1/changes?${query}`, init);
    return { status: response.status, page: (await response.json()) as Page, held: response.headers.get('changes-held-at') };
  };
  const revisionOf = async (client: pg.Client | TestDatabase['pool'], locId: string, hour: number) =>
    Number((await client.query<{ revision: string }>('SELECT revision FROM temperature WHERE loc_id = $1 AND bucket = $2', [locId, H(hour)])).rows[0]?.revision);
  const bump = (client: pg.Client, locId: string, hour: number) =>
    client.query('UPDATE temperature SET temperature_max = temperature_max + 1 WHERE loc_id = $1 AND bucket = $2', [locId, H(hour)]);
  /** Reads the feed to its end. */
  async function caughtUp(after = 0): Promise<number> {
    let cursor = after;
    for (;;) {
      const { page } = await changes(`after=${cursor}&limit=1000`);
      if (page.data.length === 0) return cursor;
      cursor = page.next_after;
    }
  }

  /**
   * The slow-writer shape: an open transaction updates F-01's hour (drawing the lower revision),
   * then another session updates F-02's and commits (the higher one).
   */
  async function heldLowerRevision(hour: number): Promise<{ held: pg.Client; low: number; high: number }> {
    const held = await writer();
    const other = await writer();
    await held.query('BEGIN');
    await bump(held, 'F-01', hour);
    const low = await revisionOf(held, 'F-01', hour);
    await bump(other, 'F-02', hour);
    const high = await revisionOf(database().pool, 'F-02', hour);
    expect(high).toBeGreaterThan(low);
    return { held, low, high };
  }

  beforeAll(async () => {
    await insertHourly(database(), [...hoursOf('F-01', new Date(H(0)), 6), ...hoursOf('F-02', new Date(H(0)), 6)]);
    await database().pool.query("INSERT INTO location (loc_id) VALUES ('F-01'), ('F-02')");
    api = await startApi(database());
  });
  afterAll(async () => {
    for (const client of writers) await client.end().catch(() => undefined);
    await api.close();
  });

  it('serves the rows in revision order from after=0 and pages with next_after', async () => {
    const { status, page } = await changes('after=0&limit=5');
    expect(status).toBe(200);
    expect(page.data).toHaveLength(5);
    expect(page.data.every((entry) => entry.op === 'upsert')).toBe(true);
    const revisions = page.data.map((entry) => entry.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(page.next_after).toBe(revisions.at(-1));
    const rest = await changes(`after=${page.next_after}&limit=100`);
    expect(rest.page.data).toHaveLength(7);
    expect(Object.keys(rest.page.data[0] ?? {})).toEqual(expect.arrayContaining(['op', 'revision', 'loc_id', 'bucket', 'ymd', 'hh', 'temperature_arrhenius_sum', 'sample_count', 'expected_count']));
  });

  it('a lower revision held by an open transaction stops the feed below it; after its COMMIT the consumer gets both', async () => {
    const cursor = await caughtUp();
    const { held, low, high } = await heldLowerRevision(1);

    const during = await changes(`after=${cursor}`);
    expect(during.page.data.map((entry) => entry.revision)).not.toContain(high);
    expect(during.page.next_after).toBeLessThan(low);
    expect(Number(during.held)).toBeLessThan(low);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(Number(/^plant_api_change_feed_held_revisions (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);

    await held.query('COMMIT');
    const after = await changes(`after=${during.page.next_after}`);
    expect(after.page.data.map((entry) => [entry.loc_id, entry.revision])).toEqual([
      ['F-01', low],
      ['F-02', high],
    ]);
    expect(after.held).toBeNull();
  });

  it('the held gauges are read at scrape time: > 0 and the safe revision below the writer while it is open, 0 after it ends, with no feed read', async () => {
    await caughtUp();
    const scrape = async () => {
      const text = await (await fetch(`${api.url}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      return { held: value('plant_api_change_feed_held_revisions'), safe: value('plant_api_change_feed_safe_revision') };
    };
    expect((await scrape()).held).toBe(0);
    // Nobody reads the feed from here on: a consumer that stopped must not hide (or leave behind) a held feed.
    const { held, low, high } = await heldLowerRevision(4);
    const during = await scrape();
    expect(during.held).toBeGreaterThanOrEqual(2);
    expect(during.safe).toBeLessThan(low);
    // The query ChangeFeedHeld's description gives the operator finds this writer.
    const { rows } = await database().pool.query<{ pid: number }>(changeFeedHeldRunbookQuery());
    const writerPid = (await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    expect(rows.map((row) => row.pid)).toEqual([writerPid]);
    await held.query('COMMIT');
    expect(await scrape()).toEqual({ held: 0, safe: high });
  });

  it('a waiting long-poll returns the held revision within a second of its COMMIT', async () => {
    const cursor = await caughtUp();
    const { held, low } = await heldLowerRevision(2);
    const waiting = changes(`after=${cursor}&wait=20s`);
    await until(() => api.app.changes.waiters === 1, 5_000, 'the long-poll to wait');
    // Still waiting: the committed higher revision alone is not served.
    expect(api.app.changes.waiters).toBe(1);
    await held.query('COMMIT');
    const committed = performance.now();
    const { page } = await waiting;
    const latency = performance.now() - committed;
    expect(page.data.map((entry) => entry.revision)[0]).toBe(low);
    expect(page.data).toHaveLength(2);
    expect(latency).toBeLessThan(1_000);
  });

  it('a held writer that rolls back releases the feed without the full wait', async () => {
    const cursor = await caughtUp();
    const { held, high } = await heldLowerRevision(3);
    const started = performance.now();
    const waiting = changes(`after=${cursor}&wait=30s`);
    await until(() => api.app.changes.waiters === 1, 5_000, 'the long-poll to wait');
    await held.query('ROLLBACK');
    const rolledBack = performance.now();
    const { page } = await waiting;
    expect(page.data.map((entry) => entry.revision)).toEqual([high]);
    expect(performance.now() - rolledBack).toBeLessThan(1_500);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('a long-poll with nothing new answers empty at the end of its wait, with next_after = after', async () => {
    const cursor = await caughtUp();
    const { status, page } = await changes(`after=${cursor}&wait=300ms`);
    expect(status).toBe(200);
    expect(page).toEqual({ data: [], next_after: cursor });
  });

  it('many waiters share one LISTEN session; an aborted long-poll leaves no waiter and no connection behind', async () => {
    const cursor = await caughtUp();
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const waits = controllers.map((controller) => changes(`after=${cursor}&wait=30s`, { signal: controller.signal }).catch((error: unknown) => error));
    await until(() => api.app.changes.waiters === 5, 5_000, 'five waiters');
    const listeners = async () =>
      Number((await database().pool.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'api change listener' AND datname = current_database()")).rows[0]?.n);
    expect(await listeners()).toBe(1);
    for (const controller of controllers) controller.abort();
    await Promise.all(waits);
    await until(() => api.app.changes.waiters === 0, 2_000, 'the aborted waiters to be removed');
    // No pooled connection is held by a waiting request.
    expect(database().pool.totalCount - database().pool.idleCount).toBe(0);
    expect(await listeners()).toBe(1);
  });

  it('the listener reconnects after its session is killed, and a waiting long-poll still gets the commit', async () => {
    const cursor = await caughtUp();
    const waiting = changes(`after=${cursor}&wait=20s`);
    await until(() => api.app.changes.waiters === 1 && api.app.changes.listening, 5_000, 'a waiting long-poll');
    await database().pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'api change listener' AND datname = current_database()");
    await until(() => api.app.changes.listening === false, 5_000, 'the listener to notice');
    const other = await writer();
    await bump(other, 'F-02', 4);
    const { page } = await waiting;
    expect(page.data.map((entry) => entry.loc_id)).toEqual(['F-02']);
    await until(() => api.app.changes.listening, 5_000, 'the listener to reconnect');
  });

  it('bad parameters answer 400 with a message; a cursor older than retention answers 410', async () => {
    for (const query of ['after=-1', 'after=abc', 'limit=0', 'limit=10001', 'wait=61s', 'wait=soon', 'wait=-1s']) {
      const response = await fetch(`${api.url}/v1/changes?${query}`);
      expect(response.status, query).toBe(400);
      const problem = (await response.json()) as { detail: string };
      expect(problem.detail, query).toMatch(/after|limit|wait/);
    }
    const { pool } = database();
    await pool.query("DELETE FROM temperature WHERE loc_id = 'F-02' AND bucket = $1", [H(5)]);
    const tombstone = Number((await pool.query<{ revision: string }>('SELECT max(revision) AS revision FROM temperature_tombstone')).rows[0]?.revision);
    const deletion = await changes(`after=${tombstone - 1}`);
    expect(deletion.page.data).toEqual([{ op: 'delete', revision: tombstone, loc_id: 'F-02', bucket: '2024-05-01T05:00:00.000Z' }]);
    await pruneChangeHistory(database().db, new Date(Date.now() + 60_000));
    const gone = await fetch(`${api.url}/v1/changes?after=${tombstone - 1}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { detail: string }).detail).toMatch(/cursor too old.*restart from after=0/);
    expect((await changes(`after=${tombstone}`)).status).toBe(200);
    expect((await changes('after=0')).status).toBe(200);
    await sql`UPDATE aggregator_state SET tombstones_pruned_through = 0`.execute(database().db);
  });

  it('closing the server ends a waiting long-poll at once', async () => {
    const cursor = await caughtUp();
    const waiting = changes(`after=${cursor}&wait=30s`);
    await until(() => api.app.changes.waiters === 1, 5_000, 'a waiting long-poll');
    const started = performance.now();
    const closed = api.close();
    const { page } = await waiting;
    expect(page).toEqual({ data: [], next_after: cursor });
    expect(performance.now() - started).toBeLessThan(1_000);
    await closed;
    api = await startApi(database());
  });
});
