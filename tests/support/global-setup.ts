import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { TestProject } from 'vitest/node';
import { ensureEmbeddedPostgres, adminUrlOf, createPool, createRawPartitions, migrateToLatest } from '../../db/index.js';
import { createLogger } from '../../runtime/logger.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres:// URL of the test server's maintenance database. */
    adminUrl: string;
    /** A migrated database every test file's database is cloned from. */
    templateDatabase: string;
    /** The schema the template was migrated into. */
    testSchema: string;
  }
}

export const TEST_SCHEMA = 'flet_montrg';

/**
 * One PostgreSQL per test run: TEST_DATABASE_URL when set (CI points it at Debian's
 * PostgreSQL 15), else an embedded server in a temporary directory with durability off.
 * A migrated template database is made once; each test file clones it (tests/support/database.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn');
  let adminUrl: string;
  let stopServer = async () => {};
  let dataDir: string | undefined;
  if (process.env.TEST_DATABASE_URL) {
    adminUrl = process.env.TEST_DATABASE_URL;
  } else {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-climate-test-'));
    // PostgreSQL runs as the postgres user under root; it must be able to enter the directory.
    await fs.chmod(dataDir, 0o755);
    const server = await ensureEmbeddedPostgres({
      dataDir,
      log,
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '400' },
    });
    adminUrl = adminUrlOf(server.url);
    stopServer = () => server.stop();
  }
  const template = `plant_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();

  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${template}`;
  const pool = createPool({ url: templateUrl.toString(), schema: TEST_SCHEMA, applicationName: 'test-template', log });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  await migrateToLatest(db, TEST_SCHEMA, log);
  // TEST_RAW_PARTITIONS=2024-01-01..2024-12-31 gives the template day partitions over the
  // tests' dates, so that the same tests run with their readings in day partitions instead of
  // the default partition (migrate creates only the days around today).
  const partitions = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(process.env.TEST_RAW_PARTITIONS ?? '');
  if (partitions) await createRawPartitions(db, { from: new Date(`${partitions[1]}T00:00:00Z`), to: new Date(`${partitions[2]}T00:00:00Z`) });
  await db.destroy();

  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', template);
  project.provide('testSchema', TEST_SCHEMA);

  return async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await client.end();
    await stopServer();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  };
}
