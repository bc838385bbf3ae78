import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type ApiApp } from '../api/index.js';
import { loadConfig } from '../runtime/config.js';
import { PlantError } from '../runtime/errors.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly } from './support/api-app.js';

const NOW = new Date('2024-06-10T12:30:00Z');
const START = new Date('2024-06-01T00:00:00Z');
const PATH = '/v1/locations/K-01/hourly?from=2024-06-01T00:00:00Z&to=2024-06-01T10:00:00Z&limit=4';

interface Page {
  data: { bucket: string }[];
  next_cursor: string | null;
}

describe('API_CURSOR_SECRET', () => {
  const database = useTestDatabase();
  const apps: ApiApp[] = [];

  async function start(env: Record<string, string>): Promise<ApiApp> {
    const app = await buildApp({
      config: loadConfig({ API_RATE_LIMIT: '0', ...env }),
      log: createLogger('silent'),
      database: { db: database().db, pool: database().pool, schema: database().schema },
      now: () => NOW,
    });
    apps.push(app);
    return app;
  }
  const get = async (app: ApiApp, url: string) => app.inject({ method: 'GET', url });

  beforeAll(async () => {
    await insertHourly(database(), hoursOf('K-01', START, 10));
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  it('signs cursors so that they work after a restart and on another instance with the same secret', async () => {
    const secret = 'a-shared-secret-of-32-characters';
    expect(loadConfig({ API_CURSOR_SECRET: secret }).api.cursorSecret).toBe(secret);
    const first = await start({ API_CURSOR_SECRET: secret });
    const page = (await get(first, PATH)).json<Page>();
    expect(page.data.map((row) => row.bucket)).toEqual(['2024-06-01T00:00:00.000Z', '2024-06-01T01:00:00.000Z', '2024-06-01T02:00:00.000Z', '2024-06-01T03:00:00.000Z']);
    expect(page.next_cursor).toEqual(expect.any(String));
    await first.close();

    const restarted = await start({ API_CURSOR_SECRET: secret });
    const next = await get(restarted, `${PATH}&cursor=${encodeURIComponent(page.next_cursor ?? '')}`);
    expect(next.statusCode).toBe(200);
    expect(next.json<Page>().data.map((row) => row.bucket)).toEqual(['2024-06-01T04:00:00.000Z', '2024-06-01T05:00:00.000Z', '2024-06-01T06:00:00.000Z', '2024-06-01T07:00:00.000Z']);

    // An instance with another secret, or with none (random), rejects it as a bad parameter.
    const others: Record<string, string>[] = [{ API_CURSOR_SECRET: 'another-secret-of-enough-length' }, {}];
    for (const env of others) {
      const other = await start(env);
      const rejected = await get(other, `${PATH}&cursor=${encodeURIComponent(page.next_cursor ?? '')}`);
      expect(rejected.statusCode).toBe(400);
      expect(rejected.json<{ errors: { name: string; in: string }[] }>().errors).toEqual([expect.objectContaining({ name: 'cursor', in: 'query' })]);
    }
  });

  it('keeps cursors per process when unset, and refuses a short secret as bad config', async () => {
    expect(loadConfig({}).api.cursorSecret).toBeUndefined();
    const one = await start({});
    const cursor = (await get(one, PATH)).json<Page>().next_cursor ?? '';
    expect((await get(one, `${PATH}&cursor=${encodeURIComponent(cursor)}`)).statusCode).toBe(200);
    const two = await start({});
    expect((await get(two, `${PATH}&cursor=${encodeURIComponent(cursor)}`)).statusCode).toBe(400);

    const error = (() => {
      try {
        return loadConfig({ API_CURSOR_SECRET: 'too-short' });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(PlantError);
    expect((error as PlantError).exitCode).toBe(2);
    expect((error as PlantError).message).toContain('API_CURSOR_SECRET');
  });
});
