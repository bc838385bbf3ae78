import { Migrator, NO_MIGRATIONS, sql, type Kysely, type MigrationResult } from 'kysely';
import type { Logger } from 'pino';
import { migrations } from '../migrations/index.js';
import { errors } from '../runtime/errors.js';
import { createRawPartitionsAhead } from './raw-partitions.js';

export const MIGRATE_COMMAND = 'npx plant-climate migrate';

function migratorFor(db: Kysely<unknown>, schema: string): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableSchema: schema,
  });
}

/**
 * Holds a session advisory lock keyed by the schema around `fn`, so two processes migrating at
 * once (two containers starting, `npm start` beside `plant-climate migrate`) run one after the
 * other: the second finds nothing left to do. Kysely's own lock is taken only after it has
 * created its tables, which two processes can race on.
 */
async function withMigrationLock<T>(db: Kysely<unknown>, schema: string, fn: () => Promise<T>): Promise<T> {
  return db.connection().execute(async (connection) => {
    await sql`SELECT pg_advisory_lock(hashtext(${`plant-climate:migrate:${schema}`}))`.execute(connection);
    try {
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(connection);
      return await fn();
    } finally {
      await sql`SELECT pg_advisory_unlock(hashtext(${`plant-climate:migrate:${schema}`}))`.execute(connection);
    }
  });
}

function check(results: readonly MigrationResult[] | undefined, error: unknown, log: Logger): string[] {
  for (const result of results ?? []) {
    if (result.status === 'Success') log.info({ migration: result.migrationName, direction: result.direction }, 'migration applied');
    if (result.status === 'Error') log.error({ migration: result.migrationName }, 'migration failed');
  }
  if (error) throw error instanceof Error ? error : new Error(`migration failed: ${JSON.stringify(error)}`);
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

/**
 * Applies every pending migration; returns the names applied (none when up to date). Then makes
 * sure the raw table has its day partitions ahead (db/raw-partitions.ts), so that a `migrate` run
 * at any time, like every scheduled aggregation run, leaves the next days ready.
 */
export async function migrateToLatest(db: Kysely<unknown>, schema: string, log: Logger): Promise<string[]> {
  return withMigrationLock(db, schema, async () => {
    const { error, results } = await migratorFor(db, schema).migrateToLatest();
    const applied = check(results, error, log);
    const created = await createRawPartitionsAhead(db, new Date());
    if (created.length > 0) log.info({ partitions: created }, `created ${created.length} raw partition(s) ahead`);
    return applied;
  });
}

/** Reverts the newest migration, or all of them with `all`. */
export async function migrateDown(db: Kysely<unknown>, schema: string, log: Logger, options: { all?: boolean } = {}): Promise<string[]> {
  return withMigrationLock(db, schema, async () => {
    const migrator = migratorFor(db, schema);
    const { error, results } = options.all ? await migrator.migrateTo(NO_MIGRATIONS) : await migrator.migrateDown();
    return check(results, error, log);
  });
}

export interface SchemaStatus {
  readonly applied: readonly string[];
  readonly pending: readonly string[];
  /** Applied in the database but unknown to this build: the database is newer than the code. */
  readonly unknown: readonly string[];
}

export async function schemaStatus(db: Kysely<unknown>, schema: string): Promise<SchemaStatus> {
  const known = Object.keys(migrations).sort();
  const table = await sql<{ exists: boolean }>`SELECT to_regclass(${`${schema}.kysely_migration`}) IS NOT NULL AS exists`.execute(db);
  const applied = table.rows[0]?.exists
    ? (await sql<{ name: string }>`SELECT name FROM ${sql.table(`${schema}.kysely_migration`)} ORDER BY name`.execute(db)).rows.map((row) => row.name)
    : [];
  return {
    applied,
    pending: known.filter((name) => !applied.includes(name)),
    unknown: applied.filter((name) => !known.includes(name)),
  };
}

/** Refuses to go on against a schema this build does not match, naming the command that fixes it. */
export async function assertSchemaCurrent(db: Kysely<unknown>, schema: string): Promise<void> {
  const status = await schemaStatus(db, schema);
  if (status.unknown.length > 0) {
    throw errors.schemaOutOfDate(
      `the database schema "${schema}" is newer than this build of plant-climate (it has migration ${status.unknown.join(', ')}): upgrade plant-climate on this host`,
    );
  }
  if (status.pending.length > 0) {
    throw errors.schemaOutOfDate(
      status.applied.length === 0
        ? `the database schema "${schema}" has not been created yet: run \`${MIGRATE_COMMAND}\` first`
        : `the database schema "${schema}" is out of date (pending: ${status.pending.join(', ')}): run \`${MIGRATE_COMMAND}\` first`,
    );
  }
}
