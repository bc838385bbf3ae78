import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from '../../db/schema.js';

/** The connections the API is given; the caller owns them (closing the app does not close them). */
export interface ApiDatabase {
  readonly db: Kysely<Database>;
  /** The pool behind `db`; the API streams CSV through a cursor on it. */
  readonly pool: pg.Pool;
  /** DB_SCHEMA, for the /ready schema check. */
  readonly schema: string;
}

/**
 * Server-side limits of the API's sessions (set at connect time, see db/pool.ts): no API query
 * runs for more than 30 s, and a session left idle inside a transaction (a CSV cursor whose
 * reader went away) is ended after 60 s, longer than a stream's stall timeout, so that the stream
 * itself is cut first and the database only steps in when the process could not.
 */
export const API_SESSION_TIMEOUTS = { statementMs: 30_000, idleInTransactionMs: 60_000 } as const;

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>;
    /** The pool behind `db`, for server-side cursors (db/cursor-stream.ts) of streamed responses. */
    dbPool: pg.Pool;
    dbSchema: string;
  }
}

async function database(app: FastifyInstance, options: { database: ApiDatabase }): Promise<void> {
  const { db, pool, schema } = options.database;
  app.decorate('db', db);
  app.decorate('dbPool', pool);
  app.decorate('dbSchema', schema);
  return Promise.resolve();
}

export default fp(database, { name: 'database', fastify: '5.x' });
