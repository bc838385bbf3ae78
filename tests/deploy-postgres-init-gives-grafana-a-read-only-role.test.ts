import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { migrateToLatest } from '../db/index.js';
import { commandPeer, describeWithPeer } from './support/peers.js';
import { createTestDatabase, createLogger, type TestDatabase } from './support/database.js';
import { REPO, dashboardQueries } from './support/deploy-expressions.js';

const run = promisify(execFile);
const psql = commandPeer('psql', 'postgresql-client', 'psql', ['--version']);
const ROLE = 'grafana_reader';

/** What Grafana sends for a dashboard query: its variable and macros filled in. */
function asGrafanaSends(query: string): string {
  return query
    .replaceAll('${loc_id:sqlstring}', "'SIM-01'")
    .replace(/\$__timeFilter\(([^)]+)\)/g, "$1 BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-08T00:00:00Z'");
}

/**
 * deploy/postgres-init/10-grafana-reader.sh, run as the postgres image runs it on a new volume
 * (before any migration), then the migrations: the dashboards' SQL runs as the read-only role
 * with unqualified table names, and the role cannot write.
 */
describeWithPeer(psql, 'the postgres init script of the compose deployment', () => {
  let database: TestDatabase;
  const password = randomBytes(12).toString('hex');

  async function dropRole(): Promise<void> {
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
    await admin.end();
  }

  beforeAll(async () => {
    await dropRole();
    database = await createTestDatabase({ migrated: false });
    const url = new URL(database.url);
    await run('sh', [path.join(REPO, 'deploy/postgres-init/10-grafana-reader.sh')], {
      env: {
        PATH: process.env.PATH,
        PGHOST: url.hostname,
        PGPORT: url.port || '5432',
        PGPASSWORD: decodeURIComponent(url.password),
        POSTGRES_USER: decodeURIComponent(url.username),
        POSTGRES_DB: database.name,
        DB_SCHEMA: database.schema,
        GRAFANA_DB_PASSWORD: password,
      },
    });
    await migrateToLatest(database.db as unknown as Kysely<unknown>, database.schema, createLogger('silent'));
    await database.db
      .insertInto('temperature_raw')
      .values({ loc_id: 'SIM-01', capture_dt: '2024-01-02T10:15:00Z', temperature: 21, humidity: 40, pcv_temperature: 30, gateway_id: 'gw' })
      .execute();
  }, 60_000);

  afterAll(async () => {
    await database?.drop();
    await dropRole();
  });

  async function asReader<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const url = new URL(database.url);
    url.username = ROLE;
    url.password = password;
    // No search_path option: the role's own setting must make unqualified names work.
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  it('lets every dashboard SQL query run as the reader, with unqualified table names', async () => {
    const dashboards = fs.readdirSync(path.join(REPO, 'grafana/dashboards')).map((file) => path.join(REPO, 'grafana/dashboards', file));
    const queries = dashboards.flatMap(dashboardQueries).filter((query) => query.datasource === 'postgres');
    expect(queries.length).toBeGreaterThan(3);
    await asReader(async (client) => {
      for (const query of queries) {
        await expect(client.query(asGrafanaSends(query.query)), `${query.dashboard} ${query.where}`).resolves.toBeDefined();
      }
      const latest = await client.query<{ temperature: number }>(asGrafanaSends(queries.find((query) => query.where.includes('Latest'))!.query));
      expect(latest.rows).toEqual([expect.objectContaining({ temperature: 21 })]);
    });
  });

  it('refuses the reader any write', async () => {
    await asReader(async (client) => {
      await expect(client.query(`INSERT INTO location (loc_id) VALUES ('X-1')`)).rejects.toThrow(/permission denied/);
      await expect(client.query(`DELETE FROM temperature_raw`)).rejects.toThrow(/permission denied/);
      await expect(client.query(`CREATE TABLE scratch (id int)`)).rejects.toThrow(/permission denied/);
    });
  });
});
