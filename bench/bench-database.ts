import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { createPool, ensureEmbeddedPostgres, migrateToLatest, type Database } from '../db/index.js';
import { createLogger, type Logger } from '../runtime/logger.js';

/**
 * A migrated plant database on a private embedded PostgreSQL for a benchmark (or on
 * BENCH_DATABASE_URL). Stopped and deleted by `close()`.
 */
export interface BenchDatabase {
  /** postgres:// URL of the database, for benchmarks that open their own pools. */
  readonly url: string;
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  readonly log: Logger;
  close(): Promise<void>;
}

/** One or more migrated databases (named `names`) on one private server, so that runs can alternate between them. */
export async function openBenchDatabases(names: readonly string[]): Promise<{ databases: BenchDatabase[]; close: () => Promise<void> }> {
  const log = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn');
  let url = process.env.BENCH_DATABASE_URL;
  let stop = async () => {};
  if (!url) {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-bench-'));
    await fs.chmod(dataDir, 0o755);
    const server = await ensureEmbeddedPostgres({
      dataDir,
      log,
      // Durability off and room for WAL: the benchmarks compare statements, not fsyncs.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_wal_size: '8GB', shared_buffers: '1GB', work_mem: '64MB' },
    });
    url = server.url;
    stop = async () => {
      await server.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    };
  }
  const schema = 'flet_montrg';
  const databases: BenchDatabase[] = [];
  for (const name of names) {
    const admin = createPool({ url, schema, applicationName: 'bench-aggregator-admin', log, max: 1 });
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const databaseUrl = new URL(url);
    databaseUrl.pathname = `/${name}`;
    const pool = createPool({ url: databaseUrl.toString(), schema, applicationName: 'bench-aggregator', log, max: 4 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    await migrateToLatest(db as Kysely<unknown>, schema, log);
    databases.push({ url: databaseUrl.toString(), db, pool, log, close: () => db.destroy() });
  }
  return {
    databases,
    close: async () => {
      for (const database of databases) await database.close();
      await stop();
    },
  };
}

export async function openBenchDatabase(name = 'bench_aggregator'): Promise<BenchDatabase> {
  const { databases, close } = await openBenchDatabases([name]);
  const [database] = databases;
  if (!database) throw new Error('no bench database');
  return { ...database, close };
}

export const locIds = (count: number): string[] => Array.from({ length: count }, (_, i) => `BENCH-${String(i + 1).padStart(3, '0')}`);

/**
 * Readings of every location every `stepSeconds` in [from, to), as the collector writes them:
 * one COPY, through the dirty-hour triggers (disable them with `triggers: false` around the COPY).
 */
export async function copyReadings(
  pool: pg.Pool,
  options: { locIds: readonly string[]; from: Date; to: Date; stepSeconds: number },
): Promise<{ rows: number; ms: number }> {
  const client = await pool.connect();
  try {
    const step = options.stepSeconds * 1000;
    function* lines(): Generator<string> {
      let batch = '';
      let n = 0;
      for (let t = options.from.getTime(); t < options.to.getTime(); t += step) {
        const at = new Date(t).toISOString();
        for (const loc of options.locIds) {
          const phase = (t / 3_600_000 + loc.length) % 24;
          batch += `${loc}\t${at}\t${(20 + phase / 10).toFixed(1)}\t${(45 + (n % 100) / 10).toFixed(1)}\t${n % 13 === 0 ? '\\N' : (30 + phase).toFixed(2)}\tgw-bench\n`;
          n += 1;
        }
        if (batch.length > 1 << 16) {
          yield batch;
          batch = '';
        }
      }
      if (batch) yield batch;
    }
    const started = performance.now();
    const stream = client.query(copyFrom('COPY temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id) FROM STDIN'));
    await pipeline(Readable.from(lines()), stream);
    return { rows: Number(stream.rowCount ?? 0), ms: performance.now() - started };
  } finally {
    client.release();
  }
}

/** One device per location polled every `pollIntervalMs`, as collectors record them: what expected_count is made of. */
export async function registerDevices(db: Kysely<Database>, locIds: readonly string[], pollIntervalMs: number): Promise<void> {
  await db
    .insertInto('device')
    .values(locIds.map((loc_id) => ({ gateway_id: 'gw-bench', device_id: loc_id, loc_id, host: '127.0.0.1', port: 502, unit_id: 1, poll_interval_ms: pollIntervalMs })))
    .execute();
}

export async function clearDirtyMarks(db: Kysely<Database>): Promise<void> {
  await sql`TRUNCATE raw_dirty_hour`.execute(db);
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
};

export const envNumber = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

/** What every benchmark returns: a markdown section for bench/RESULTS.md. */
export interface BenchResult {
  readonly title: string;
  readonly markdown: string;
}
