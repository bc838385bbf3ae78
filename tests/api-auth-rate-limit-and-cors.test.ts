import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { useTestDatabase } from './support/database.js';
import { startApi, type RunningApi } from './support/api-app.js';
import { buildApp } from '../api/index.js';
import { createLogger } from '../runtime/logger.js';
import { loadConfig } from '../runtime/config.js';

const READ_KEY = 'read-key-0123456789abcdef';
const WRITE_KEY = 'write-key-0123456789abcdef';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API keys, rate limiting and CORS', () => {
  const database = useTestDatabase();
  const apis: RunningApi[] = [];
  afterAll(async () => {
    await Promise.all(apis.map((api) => api.close()));
  });
  const start = async (options: Parameters<typeof startApi>[1]) => {
    const api = await startApi(database(), options);
    apis.push(api);
    return api;
  };

  describe('with API_KEYS set', () => {
    let api: RunningApi;
    beforeAll(async () => {
      api = await start({ keys: [{ key: READ_KEY, canWrite: false }, { key: WRITE_KEY, canWrite: true }] });
    });

    it('need a bearer key on /v1/* and leave health, readiness, metrics and docs open', async () => {
      const anonymous = await fetch(`${api.url}/v1/locations`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await fetch(`${api.url}/v1/locations`, { headers: bearer('wrong-key-0123456789abcdef') })).status).toBe(401);
      expect((await fetch(`${api.url}/v1/locations`, { headers: { authorization: READ_KEY } })).status).toBe(401);
      expect((await fetch(`${api.url}/v1/locations`, { headers: bearer(READ_KEY.slice(0, -1)) })).status).toBe(401);
      expect((await fetch(`${api.url}/v1/locations`, { headers: bearer(READ_KEY) })).status).toBe(200);
      expect((await fetch(`${api.url}/v1/hourly?from=2024-01-01&to=2024-01-02`, { headers: bearer(WRITE_KEY) })).status).toBe(200);
      for (const path of ['/health', '/ready', '/metrics', '/docs', '/docs/json', '/']) {
        expect((await fetch(`${api.url}${path}`)).status, path).toBe(200);
      }
    });

    it('need a write key for PUT', async () => {
      const put = (headers: Record<string, string>) =>
        fetch(`${api.url}/v1/locations/K-01`, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'Keyed' }) });
      expect((await put({})).status).toBe(401);
      const readOnly = await put(bearer(READ_KEY));
      expect(readOnly.status).toBe(403);
      expect(((await readOnly.json()) as { title: string }).title).toBe('Not allowed');
      expect((await put(bearer(WRITE_KEY))).status).toBe(201);
    });
  });

  it('serve reads of /v1/* without a key when API_KEYS is unset, and refuse every write with a 403 that says how to enable keys', async () => {
    const api = await start({});
    expect((await fetch(`${api.url}/v1/locations`)).status).toBe(200);
    for (const authorization of [undefined, `Bearer ${WRITE_KEY}`]) {
      const put = await fetch(`${api.url}/v1/locations/K-02`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ name: 'Anyone', temperature_max: 999 }),
      });
      expect(put.status).toBe(403);
      expect(put.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await put.json()) as { type: string; detail: string };
      expect(problem.type).toMatch(/writes-disabled$/);
      expect(problem.detail).toMatch(/API_KEYS=.*:write/);
    }
    expect(await database().db.selectFrom('location').selectAll().where('loc_id', '=', 'K-02').execute()).toEqual([]);
  });

  it('limit /v1/* per key or client, with 429 problem+json and Retry-After', async () => {
    const api = await start({ rateLimitPerMinute: 5, keys: [{ key: READ_KEY, canWrite: false }, { key: WRITE_KEY, canWrite: true }] });
    const statuses: number[] = [];
    for (let index = 0; index < 6; index += 1) statuses.push((await fetch(`${api.url}/v1/devices`, { headers: bearer(READ_KEY) })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await fetch(`${api.url}/v1/devices`, { headers: bearer(READ_KEY) });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await limited.json()).toMatchObject({ status: 429, title: 'Too many requests' });
    // Another key has its own budget; health stays unlimited.
    expect((await fetch(`${api.url}/v1/devices`, { headers: bearer(WRITE_KEY) })).status).toBe(200);
    for (let index = 0; index < 8; index += 1) expect((await fetch(`${api.url}/health`)).status).toBe(200);
  });

  it('answer CORS preflights and requests from API_CORS_ORIGINS only', async () => {
    const api = await start({ corsOrigins: ['http://dashboards.plant.test'] });
    const preflight = await fetch(`${api.url}/v1/locations`, {
      method: 'OPTIONS',
      headers: { origin: 'http://dashboards.plant.test', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://dashboards.plant.test');
    const allowed = await fetch(`${api.url}/v1/locations`, { headers: { origin: 'http://dashboards.plant.test' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://dashboards.plant.test');
    const other = await fetch(`${api.url}/v1/locations`, { headers: { origin: 'http://elsewhere.test' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('never write a key to the request log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const db = database();
    const app = await buildApp({
      config: { timezone: 'UTC', api: { ...loadConfig({}).api, keys: [{ key: WRITE_KEY, canWrite: true }], rateLimitPerMinute: 0 } },
      log: createLogger('trace', sink),
      database: { db: db.db, pool: db.pool, schema: db.schema },
    });
    try {
      await app.inject({ method: 'GET', url: '/v1/locations', headers: bearer(WRITE_KEY) });
      await app.inject({ method: 'GET', url: '/v1/locations', headers: bearer(`${WRITE_KEY}x`) });
      await app.inject({ method: 'PUT', url: '/v1/locations/LOG-1', headers: { ...bearer(WRITE_KEY), 'content-type': 'application/json' }, payload: '{"name":"x"}' });
    } finally {
      await app.close();
    }
    const log = lines.join('');
    expect(log).toContain('"url":"/v1/locations"');
    expect(log).not.toContain(WRITE_KEY);
    expect(log).not.toContain('0123456789abcdef');
  });
});
