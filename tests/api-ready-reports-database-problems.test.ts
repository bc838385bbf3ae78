import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../api/index.js';
import type { Database } from '../db/index.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';

const config = { timezone: 'UTC', api: loadConfig({}).api };

describe('/ready', () => {
  const unmigrated = useTestDatabase({ migrated: false });

  it('is 503 with the command that fixes it when the schema is not current, while /health stays 200', async () => {
    const database = unmigrated();
    const app = await buildApp({ config, log: createLogger('silent'), database: { db: database.db, pool: database.pool, schema: database.schema } });
    try {
      const ready = await app.inject({ method: 'GET', url: '/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(ready.json()).toMatchObject({ status: 503, title: 'Not ready', detail: expect.stringContaining('plant-climate migrate') as string });
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('is 503 without connection details when the database cannot be reached', async () => {
    // A port nothing listens on: connections are refused at once.
    const pool = new pg.Pool({ connectionString: 'postgres://nobody:secret@127.0.0.1:1/none', connectionTimeoutMillis: 2_000 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const app = await buildApp({ config, log: createLogger('silent'), database: { db, pool, schema: 'flet_montrg' } });
    try {
      const ready = await app.inject({ method: 'GET', url: '/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ detail: 'the database is not reachable' });
      expect(ready.body).not.toContain('secret');
      // Data routes fail as a hidden 500, never leaking the cause.
      const locations = await app.inject({ method: 'GET', url: '/v1/locations' });
      expect(locations.statusCode).toBe(500);
      expect(locations.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|secret/);
    } finally {
      await app.close();
      await db.destroy();
    }
  });
});
