import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Kysely, PostgresDialect } from 'kysely';
import Cursor from 'pg-cursor';
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

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>;
    /** The same pool, with pg-cursor: `query.stream()` reads big results (CSV) a chunk at a time. */
    streamingDb: Kysely<Database>;
    dbSchema: string;
  }
}

async function database(app: FastifyInstance, options: { database: ApiDatabase }): Promise<void> {
  const { db, pool, schema } = options.database;
  app.decorate('db', db);
  app.decorate('streamingDb', new Kysely<Database>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) }));
  app.decorate('dbSchema', schema);
  return Promise.resolve();
}

export default fp(database, { name: 'database', fastify: '5.x' });
