import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hourlyJsonPage, hourlyVersion, versionQuery } from '../api/queries/hourly.js';
import { versionSince } from '../api/caching/snapshot-check.js';
import { SharedChecks } from '../api/caching/shared-checks.js';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';

const NOW = new Date('2024-06-10T12:30:00Z');
const START = new Date('2024-06-01T00:00:00Z');
const PATH = '/v1/locations/C-01/hourly?from=2024-06-01&to=2024-06-03';

interface Page {
  data: { bucket: string; temperature_max: number | null }[];
}

/**
 * Concurrent requests for one cached page share freshness checks (api/caching/shared-checks.ts); a request
 * that arrives after a late change committed must still get the changed page, however many other
 * requests for the same page are in flight around it.
 */
describe('hourly page cache under concurrent requests', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  beforeAll(async () => {
    await insertHourly(database(), hoursOf('C-01', START, 48));
    api = await startApi(database(), { now: () => NOW });
  });
  afterAll(async () => {
    await api?.close();
  });

  const firstMax = async (): Promise<number | null | undefined> => {
    const response = await fetch(`${api.url}${PATH}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as Page).data[0]?.temperature_max;
  };

  it('gives a caller that arrives while a check runs the result of a check started after it, shared with the others', async () => {
    const checks = new SharedChecks<string>();
    const started: ((version: string) => void)[] = [];
    const check = () => new Promise<string>((resolve) => started.push(resolve));
    const first = checks.run('page', check);
    expect(started).toHaveLength(1);
    // Two callers arrive while the first check runs (it may have read the rows before a change they wait for).
    const second = checks.run('page', check);
    const third = checks.run('page', check);
    const other = checks.run('other page', check);
    expect(started).toHaveLength(2);
    started[0]?.('v1');
    expect(await first).toBe('v1');
    await new Promise((resolve) => setImmediate(resolve));
    // One new check for both waiting callers, begun only after the running one settled.
    expect(started).toHaveLength(3);
    started[2]?.('v2');
    started[1]?.('other');
    expect(await Promise.all([second, third, other])).toEqual(['v2', 'v2', 'other']);
    // A failed check fails its callers only; the next caller starts afresh.
    const failing = checks.run('page', () => Promise.reject(new Error('database down')));
    await expect(failing).rejects.toThrow('database down');
    expect(await checks.run('page', () => Promise.resolve('v3'))).toBe('v3');
  });

  it('makes a fresh page with the same version a later check computes, so the next request is a cache hit', async () => {
    const { db } = database();
    for (const [limit, after] of [
      [1000, undefined],
      [10, undefined],
      [10, { bucket: new Date(START.getTime() + 5 * 3_600_000), locId: 'C-01' }],
      [10, { bucket: new Date(START.getTime() + 60 * 3_600_000), locId: 'C-01' }],
    ] as const) {
      const spec = { locIds: ['C-01'], from: START, to: new Date(START.getTime() + 48 * 3_600_000), after, partialHour: undefined, timezone: 'UTC' };
      const page = await hourlyJsonPage(db, spec, limit, NOW);
      expect(page.version).toMatch(/^\d+:-?\d+$/);
      expect(page.version).toBe(await hourlyVersion(db, spec, limit));
    }
    const empty = { locIds: ['NONE'], from: START, to: NOW, after: undefined, partialHour: undefined, timezone: 'UTC' };
    expect((await hourlyJsonPage(db, empty, 10, NOW)).version).toBe(await hourlyVersion(db, empty, 10));
  });

  it('reuses a confirmed version only while the database snapshot is unchanged, and reads the rows once anything was written', async () => {
    const { db } = database();
    const spec = { locIds: ['C-01'], from: START, to: new Date(START.getTime() + 48 * 3_600_000), after: undefined, partialHour: undefined, timezone: 'UTC' };
    // Snapshots are cluster-wide and other test files write to other databases all the time: two
    // statements of one REPEATABLE READ transaction share a snapshot for certain.
    const { first, planted } = await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        const confirmed = await versionSince(trx, versionQuery(trx, spec, 1000), undefined);
        // A planted version comes back unchecked while the snapshot is the same (the rows are not read)...
        return { first: confirmed, planted: await versionSince(trx, versionQuery(trx, spec, 1000), { version: 'planted', snapshot: confirmed.snapshot }) };
      });
    expect(first.version).toBe(await hourlyVersion(db, spec, 1000));
    expect(planted).toEqual({ version: 'planted', snapshot: first.snapshot });
    // ...and any committed write, even to another table, moves the snapshot, so the rows are read again.
    await db.insertInto('location').values({ loc_id: 'SNAP-1' }).execute();
    const after = await versionSince(db, versionQuery(db, spec, 1000), { version: 'planted', snapshot: first.snapshot });
    expect(after.snapshot).not.toBe(first.snapshot);
    expect(after.version).toBe(first.version);
  });

  it('never answers a request that arrived after a change with the page from before it', async () => {
    let loading = true;
    // Eight clients asking for the same page back to back keep a check running and one queued.
    const background = Array.from({ length: 8 }, async () => {
      let answers = 0;
      while (loading) {
        await firstMax();
        answers += 1;
      }
      return answers;
    });
    try {
      for (let round = 1; round <= 15; round += 1) {
        const value = 100 + round;
        await database().db.updateTable('temperature').set({ temperature_max: value }).where('loc_id', '=', 'C-01').where('bucket', '=', START).execute();
        // Issued only after the update committed: every one of them must see it.
        const seen = await Promise.all(Array.from({ length: 5 }, () => firstMax()));
        expect(seen).toEqual(Array.from({ length: 5 }, () => value));
      }
    } finally {
      loading = false;
    }
    const answers = await Promise.all(background);
    expect(answers.every((count) => count > 0)).toBe(true);
    const page = await fetch(`${api.url}${PATH}`);
    expect(((await page.json()) as Page).data).toHaveLength(48);
  });
});
