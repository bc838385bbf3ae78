import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { buildApp } from '../api/index.js';
import { createPool, ensureEmbeddedPostgres, migrateToLatest, type Database } from '../db/index.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import type { BenchResult } from './bench-database.js';

/**
 * API read path under load: a year of hourly rows for 200 locations; the 30-day hourly query of
 * one location under 50 connections (autocannon), as a ratio to /health of the same server in the
 * same run (goal >= 0.3); and the one-day /v1/hourly call for all 200 locations.
 * Knobs: BENCH_API_LOCATIONS (200), BENCH_API_DAYS (365), BENCH_API_SECONDS (10 per measurement).
 */

const SCHEMA = 'flet_montrg';
/** Set in the load-generator child process: its LoadSpec as JSON. */
const CLIENT_ENV = 'BENCH_API_CLIENT';

interface Load {
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly bytesPerRequest: number;
}

/** One autocannon run, described in plain data so that it can be handed to a child process. */
interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** Every request a different location and 30-day window (page cache misses). */
  readonly distinct?: { readonly locations: number; readonly days: number; readonly endMs: number };
}

function distinctPath(distinct: NonNullable<LoadSpec['distinct']>, index: number): string {
  const locId = `L-${String((index % distinct.locations) + 1).padStart(3, '0')}`;
  const shift = Math.floor(index / distinct.locations) % Math.max(1, distinct.days * 24 - 720);
  const windowEnd = new Date(distinct.endMs - shift * 3_600_000);
  const windowStart = new Date(windowEnd.getTime() - 30 * 86_400_000);
  return `/v1/locations/${locId}/hourly?from=${encodeURIComponent(windowStart.toISOString())}&to=${encodeURIComponent(windowEnd.toISOString())}`;
}

async function loadHere(spec: LoadSpec): Promise<Load> {
  let index = 0;
  const { distinct } = spec;
  const requests = distinct ? [{ setupRequest: (request: autocannon.Request) => ({ ...request, path: distinctPath(distinct, index++) }) }] : undefined;
  const result = await autocannon({ url: spec.url, connections: spec.connections, duration: spec.seconds, pipelining: 1, ...(requests ? { requests } : {}) });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    bytesPerRequest: result.requests.total > 0 ? result.throughput.total / result.requests.total : 0,
  };
}

/**
 * Runs the load generator in a child process: in the server's process it would take event-loop
 * time from the server it measures (it parses every 226 KB response), which is not what a real
 * client costs the API.
 */
async function load(url: string, connections: number, seconds: number, distinct?: LoadSpec['distinct']): Promise<Load> {
  const spec: LoadSpec = { url, connections, seconds, ...(distinct ? { distinct } : {}) };
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [CLIENT_ENV]: JSON.stringify(spec) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let result: Load | undefined;
  child.on('message', (message) => {
    result = message as Load;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (result === undefined) throw new Error(`the load generator exited with ${String(code)} without a result`);
  return result;
}

const fmt = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function run(): Promise<BenchResult> {
  const locations = Number(process.env.BENCH_API_LOCATIONS ?? 200);
  const days = Number(process.env.BENCH_API_DAYS ?? 365);
  const seconds = Number(process.env.BENCH_API_SECONDS ?? 10);
  const log = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-api-'));
  await fs.chmod(dataDir, 0o755);
  const server = await ensureEmbeddedPostgres({ dataDir, log, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } });
  const pool = createPool({ url: server.url, schema: SCHEMA, applicationName: 'bench-api', log, max: 10 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db as unknown as Kysely<unknown>, SCHEMA, log);
    const end = new Date(Date.UTC(2025, 0, 1));
    const start = new Date(end.getTime() - days * 86_400_000);
    const seedStarted = performance.now();
    // One location per statement keeps each transaction small on a 2-core machine.
    for (let index = 1; index <= locations; index += 1) {
      const locId = `L-${String(index).padStart(3, '0')}`;
      await sql`
        INSERT INTO temperature (loc_id, bucket, ymd, hh, temperature_max, temperature_avg, humidity_max, humidity_avg, pcv_temperature_max, pcv_temperature_avg, sample_count)
        SELECT ${locId}, b, to_char(b AT TIME ZONE 'UTC', 'YYYYMMDD'), to_char(b AT TIME ZONE 'UTC', 'HH24'),
               21 + 4 * sin(extract(epoch FROM b) / 43200.0) + 0.5, 21 + 4 * sin(extract(epoch FROM b) / 43200.0),
               52 + 10 * cos(extract(epoch FROM b) / 86400.0), 50 + 10 * cos(extract(epoch FROM b) / 86400.0),
               NULL, NULL, 360
        FROM generate_series(${start}::timestamptz, ${end}::timestamptz - interval '1 hour', interval '1 hour') AS b`.execute(db);
    }
    await sql`ANALYZE temperature`.execute(db);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const rows = locations * days * 24;

    const config = loadConfig({ API_RATE_LIMIT: '0' });
    const app = await buildApp({ config, log, database: { db, pool, schema: SCHEMA }, now: () => end });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const from = new Date(end.getTime() - 30 * 86_400_000).toISOString();
      const monthUrl = `${base}/v1/locations/L-001/hourly?from=${encodeURIComponent(from)}&to=${encodeURIComponent(end.toISOString())}`;
      const dayFrom = new Date(end.getTime() - 86_400_000).toISOString();
      const allUrl = `${base}/v1/hourly?from=${encodeURIComponent(dayFrom)}&to=${encodeURIComponent(end.toISOString())}&limit=10000`;
      const month = (await (await fetch(monthUrl)).json()) as { data: unknown[] };
      const allDay = (await (await fetch(allUrl)).json()) as { data: unknown[] };
      if (month.data.length !== 720) throw new Error(`expected 720 rows for 30 days, got ${month.data.length}`);
      if (allDay.data.length !== 24 * locations) throw new Error(`expected ${24 * locations} rows for one day, got ${allDay.data.length}`);

      await load(`${base}/health`, 50, 2); // warm-up
      await load(monthUrl, 50, 2);
      const trivialBefore = await load(`${base}/health`, 50, seconds);
      const hourly = await load(monthUrl, 50, seconds);
      // Every request a different location and window, so that the page cache (256 pages) misses:
      // the cost of building a 720-row page from the table each time.
      const distinct = await load(base, 50, seconds, { locations, days, endMs: end.getTime() });
      const trivialAfter = await load(`${base}/health`, 50, seconds);
      const all = await load(allUrl, 10, seconds);
      const trivial = {
        requestsPerSecond: (trivialBefore.requestsPerSecond + trivialAfter.requestsPerSecond) / 2,
        p99: (trivialBefore.p99 + trivialAfter.p99) / 2,
      };
      const ratio = hourly.requestsPerSecond / trivial.requestsPerSecond;
      const markdown = [
        '## API: hourly reads (bench/api-hourly.ts)',
        '',
        `${fmt(rows)} hourly rows (${locations} locations × ${days} days), embedded PostgreSQL (fsync off), the API in one Node process and autocannon in a child process on this machine (${os.cpus().length} CPUs); ${seconds} s per measurement. Seeding took ${fmt(seedSeconds, 1)} s.`,
        '',
        '| request | connections | req/s | p50 ms | p99 ms | bytes/response | errors / non-2xx |',
        '|---|---|---|---|---|---|---|',
        `| GET /health (trivial route, before) | 50 | ${fmt(trivialBefore.requestsPerSecond)} | ${trivialBefore.p50} | ${trivialBefore.p99} | ${fmt(trivialBefore.bytesPerRequest)} | ${trivialBefore.errors} / ${trivialBefore.non2xx} |`,
        `| GET /v1/locations/L-001/hourly, 30 days (720 rows) | 50 | ${fmt(hourly.requestsPerSecond)} | ${hourly.p50} | ${hourly.p99} | ${fmt(hourly.bytesPerRequest)} | ${hourly.errors} / ${hourly.non2xx} |`,
        `| same, a different location and window each request (page cache misses) | 50 | ${fmt(distinct.requestsPerSecond)} | ${distinct.p50} | ${distinct.p99} | ${fmt(distinct.bytesPerRequest)} | ${distinct.errors} / ${distinct.non2xx} |`,
        `| GET /health (trivial route, after) | 50 | ${fmt(trivialAfter.requestsPerSecond)} | ${trivialAfter.p50} | ${trivialAfter.p99} | ${fmt(trivialAfter.bytesPerRequest)} | ${trivialAfter.errors} / ${trivialAfter.non2xx} |`,
        `| GET /v1/hourly, ${locations} locations × 1 day (${fmt(24 * locations)} rows) | 10 | ${fmt(all.requestsPerSecond, 1)} | ${all.p50} | ${all.p99} | ${fmt(all.bytesPerRequest)} | ${all.errors} / ${all.non2xx} |`,
        '',
        `30-day hourly query vs the trivial route (mean of before/after): **throughput ratio ${fmt(ratio, 2)}** (goal ≥ 0.3), p99 ${fmt(hourly.p99)} ms vs ${fmt(trivial.p99)} ms (×${fmt(hourly.p99 / Math.max(trivial.p99, 1), 1)}); ` +
          `with every request a different page (no cache hits): ratio ${fmt(distinct.requestsPerSecond / trivial.requestsPerSecond, 2)}.`,
        '',
      ].join('\n');
      return { title: 'API hourly reads', markdown };
    } finally {
      await app.close();
    }
  } finally {
    await db.destroy();
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.env[CLIENT_ENV] !== undefined) {
  process.send?.(await loadHere(JSON.parse(process.env[CLIENT_ENV]) as LoadSpec));
  process.disconnect?.();
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run();
  process.stdout.write(`${result.markdown}\n`);
  const target = path.resolve(import.meta.dirname, '..', '..', 'bench', 'results', 'api.md');
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.writeFile(target, `${result.markdown}`);
  process.stdout.write(`written to ${target}\n`);
}
