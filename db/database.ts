import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../runtime/config.js';
import type { Lifecycle } from '../runtime/lifecycle.js';
import { createPool, redactUrl, type PoolOptions } from './pool.js';
import { ensureEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { assertSchemaCurrent, migrateToLatest } from './migrator.js';
import type { Database } from './schema.js';

export interface PlantDatabase {
  readonly db: Kysely<Database>;
  /** The pool behind `db`, for what Kysely does not do (COPY streams). */
  readonly pool: pg.Pool;
  readonly url: string;
  readonly schema: string;
  /** The embedded server when `DATABASE_URL` is unset. */
  readonly embedded: EmbeddedPostgres | undefined;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  readonly config: Pick<Config, 'databaseUrl' | 'dbSchema' | 'dataDir'>;
  readonly log: Logger;
  /** Names the connections in pg_stat_activity. */
  readonly applicationName: string;
  /** Registers closing (and stopping an embedded server this process owns) on shutdown. */
  readonly lifecycle?: Lifecycle;
  /**
   * `check` (default) refuses an out-of-date schema; `migrate` applies pending migrations
   * (`plant-climate migrate`, `npm start`); `none` skips both (status probes such as /ready).
   */
  readonly schema?: 'check' | 'migrate' | 'none';
  readonly poolSize?: number;
  /** Statement and idle-in-transaction limits of every session (see PoolOptions). */
  readonly sessionTimeouts?: PoolOptions['sessionTimeouts'];
}

/**
 * Opens the plant database: `DATABASE_URL` when set, else the embedded PostgreSQL under
 * `PLANT_DATA_DIR` (started or reused). Every component gets its connections here.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<PlantDatabase> {
  const { config, log } = options;
  const embedded = config.databaseUrl ? undefined : await ensureEmbeddedPostgres({ dataDir: config.dataDir, log });
  const url = config.databaseUrl ?? embedded?.url ?? '';
  const pool = createPool({ url, schema: config.dbSchema, applicationName: options.applicationName, log, max: options.poolSize, sessionTimeouts: options.sessionTimeouts });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      await db.destroy();
      await embedded?.stop();
    })();
    return closed;
  };
  options.lifecycle?.onShutdown('database', close);
  try {
    const mode = options.schema ?? 'check';
    if (mode === 'migrate') await migrateToLatest(db as Kysely<unknown>, config.dbSchema, log);
    if (mode === 'check') await assertSchemaCurrent(db as Kysely<unknown>, config.dbSchema);
  } catch (error) {
    if (!options.lifecycle) await close();
    throw error;
  }
  log.debug({ url: redactUrl(url), schema: config.dbSchema, embedded: embedded !== undefined }, 'database open');
  return { db, pool, url, schema: config.dbSchema, embedded, close };
}
