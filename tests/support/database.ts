import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, inject } from 'vitest';
import { createPool, type Database } from '../../db/index.js';
import { createLogger } from '../../runtime/logger.js';

export interface TestDatabase {
  /** postgres:// URL of this file's own database. */
  readonly url: string;
  readonly name: string;
  readonly schema: string;
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  /** Environment for a child process (a bin) that should use this database. */
  readonly env: Record<string, string>;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('adminUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A database of its own for one test file: cloned from the migrated template (default), or empty
 * (`migrated: false`) for tests of the migrations themselves.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const template = options.migrated === false ? 'template0' : inject('templateDatabase');
  await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${name}`;
  const schema = inject('testSchema');
  const pool = createPool({ url: url.toString(), schema, applicationName: 'test', log: createLogger('silent') });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    url: url.toString(),
    name,
    schema,
    db,
    pool,
    env: { DATABASE_URL: url.toString(), DB_SCHEMA: schema },
    drop: async () => {
      await db.destroy();
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Creates the file's database before its tests and drops it after them. */
export function useTestDatabase(options: { migrated?: boolean } = {}): () => TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(options);
  });
  afterAll(async () => {
    await database?.drop();
  });
  return () => {
    if (!database) throw new Error('useTestDatabase: the database is created in beforeAll; use it inside tests or hooks');
    return database;
  };
}

export { createLogger };

/** Runs `text` on a fresh connection to `url` (any server: a test's second one too). */
export async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}
