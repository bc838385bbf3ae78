import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { createPool, ensureEmbeddedPostgres, migrateToLatest, type Database } from '../db/index.js';
import { createLogger } from '../runtime/logger.js';

export interface BenchDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
  readonly db: Kysely<Database>;
  readonly schema: string;
  close(): Promise<void>;
}

/**
 * A migrated database for a benchmark: BENCH_DATABASE_URL when set, else a throw-away embedded
 * PostgreSQL in a temporary directory (durable settings left on: benchmarks measure real writes).
 */
export async function openBenchDatabase(name: string): Promise<BenchDatabase> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  let url = process.env.BENCH_DATABASE_URL;
  let stop = async () => {};
  let dataDir: string | undefined;
  if (!url) {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `plant-bench-${name}-`));
    await fs.chmod(dataDir, 0o755);
    const server = await ensureEmbeddedPostgres({ dataDir, log, settings: { max_wal_size: '4GB', shared_buffers: '512MB' } });
    url = server.url;
    stop = () => server.stop();
  }
  const schema = 'flet_montrg';
  const pool = createPool({ url, schema, applicationName: `bench ${name}`, log });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await migrateToLatest(db as Kysely<unknown>, schema, log);
  return {
    url,
    pool,
    db,
    schema,
    close: async () => {
      await db.destroy();
      await stop();
      if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
