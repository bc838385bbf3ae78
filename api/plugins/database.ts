import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Kysely, PostgresDialect } from 'kysely';
import Cursor from 'pg-cursor';
import type { Database } from '../../db/schema.js';
import type { ApiDatabase } from '../app.js';

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
