import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import http from 'node:http';
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
 * API read path under load: a year of hourly rows for 200 locations; the cached 30-day hourly
 * page of one location (720 rows) under 50 connections (autocannon), side by side with a bare
 * `node:http` server sending the very same bytes from memory (goal: API >= 0.8 x bare), once
 * uncompressed and once each with brotli and gzip negotiated from Accept-Encoding; the same
 * query with a different page each request (cache misses); /health; and the one-day /v1/hourly
 * call for all 200 locations.
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
  readonly headers?: Record<string, string>;
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
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    pipelining: 1,
    ...(spec.headers ? { headers: spec.headers } : {}),
    ...(requests ? { requests } : {}),
  });
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
async function load(url: string, connections: number, seconds: number, distinct?: LoadSpec['distinct'], headers?: Record<string, string>): Promise<Load> {
  const spec: LoadSpec = { url, connections, seconds, ...(distinct ? { distinct } : {}), ...(headers ? { headers } : {}) };
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [CLIENT_ENV]: JSON.stringify(spec) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let result: Load | undefined;
  child.on('message', (message) => {
    result = message as Load;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (result === undefined) throw new Error(`the load generator exited with ${String(code)} without a result`);
  return result;
}

type Coding = 'identity' | 'br' | 'gzip';
interface Representation {
  readonly body: Buffer;
  readonly headers: http.OutgoingHttpHeaders;
}

/** The raw bytes and headers the API sends for `url` with this Accept-Encoding (no decompression). */
function rawGet(url: string, coding: Coding): Promise<Representation> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { 'accept-encoding': coding } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ body: Buffer.concat(chunks), headers: response.headers }));
      })
      .on('error', reject);
  });
}

/** Waits until the API serves `coding` (pages are compressed in the background once kept). */
async function representation(url: string, coding: Coding): Promise<Representation> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const got = await rawGet(url, coding);
    if (coding === 'identity' ? got.headers['content-encoding'] === undefined : got.headers['content-encoding'] === coding) return got;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the API never served ${url} with content-encoding ${coding}`);
}

/**
 * The baseline: a bare node:http server that answers every request with the bytes the API sent
 * for the same page (picked by Accept-Encoding like the API), with the same headers, from memory.
 */
async function bareServer(representations: Readonly<Record<Coding, Representation>>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    const accept = request.headers['accept-encoding'] ?? '';
    const coding: Coding = accept.includes('br') ? 'br' : accept.includes('gzip') ? 'gzip' : 'identity';
    const { body, headers } = representations[coding];
    const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...same } = headers;
    response.writeHead(200, same);
    response.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const mean = (a: Load, b: Load): Load => ({
  requestsPerSecond: (a.requestsPerSecond + b.requestsPerSecond) / 2,
  p50: (a.p50 + b.p50) / 2,
  p99: (a.p99 + b.p99) / 2,
  errors: a.errors + b.errors,
  non2xx: a.non2xx + b.non2xx,
  bytesPerRequest: (a.bytesPerRequest + b.bytesPerRequest) / 2,
});

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

      // The same bytes and headers as the API's cached page, for the bare baseline.
      const representations = {
        identity: await representation(monthUrl, 'identity'),
        br: await representation(monthUrl, 'br'),
        gzip: await representation(monthUrl, 'gzip'),
      };
      const bare = await bareServer(representations);
      const measured: { label: string; connections: number; load: Load }[] = [];
      const measure = async (label: string, url: string, connections: number, options: { distinct?: LoadSpec['distinct']; headers?: Record<string, string> } = {}) => {
        const result = await load(url, connections, seconds, options.distinct, options.headers);
        measured.push({ label, connections, load: result });
        return result;
      };
      await load(`${base}/health`, 50, 2); // warm-up
      await load(monthUrl, 50, 2);
      await load(bare.url, 50, 2);
      const pairs: { coding: Coding; api: Load; bare: Load }[] = [];
      try {
        for (const coding of ['identity', 'br', 'gzip'] as const) {
          const headers = { 'accept-encoding': coding };
          const name = coding === 'identity' ? 'uncompressed' : coding;
          // Bare, API, API, bare: each side measured before and after the other, averaged.
          const bareFirst = await measure(`bare node:http, same bytes (${name})`, bare.url, 50, { headers });
          const apiFirst = await measure(`GET /v1/locations/L-001/hourly, 30 days, 720 rows, cached (${name})`, monthUrl, 50, { headers });
          const apiSecond = await load(monthUrl, 50, seconds, undefined, headers);
          const bareSecond = await load(bare.url, 50, seconds, undefined, headers);
          pairs.push({ coding, api: mean(apiFirst, apiSecond), bare: mean(bareFirst, bareSecond) });
        }
      } finally {
        await bare.close();
      }
      // Every request a different location and window, so that the page cache (256 pages) misses:
      // the cost of building a 720-row page from the table each time.
      await measure('same, a different location and window each request (page cache misses)', base, 50, { distinct: { locations, days, endMs: end.getTime() } });
      await measure('GET /health (trivial route)', `${base}/health`, 50);
      const all = await measure(`GET /v1/hourly, ${locations} locations × 1 day (${fmt(24 * locations)} rows)`, allUrl, 10);
      const markdown = [
        // Level 3: run-all.ts files this under its own `## api-hourly` and finds sections by `## `.
        '### API: hourly reads (bench/api-hourly.ts)',
        '',
        `${fmt(rows)} hourly rows (${locations} locations × ${days} days), embedded PostgreSQL (fsync off), the API in one Node process and autocannon in a child process on this machine (${os.cpus().length} CPUs); ${seconds} s per measurement. Seeding took ${fmt(seedSeconds, 1)} s.`,
        '',
        '| request | connections | req/s | p50 ms | p99 ms | bytes/response | errors / non-2xx |',
        '|---|---|---|---|---|---|---|',
        ...measured.map(
          ({ label, connections, load: result }) =>
            `| ${label} | ${connections} | ${fmt(result.requestsPerSecond, label.startsWith('GET /v1/hourly') ? 1 : 0)} | ${result.p50} | ${result.p99} | ${fmt(result.bytesPerRequest)} | ${result.errors} / ${result.non2xx} |`,
        ),
        '',
        'Cached 30-day page (720 rows) against a bare `node:http` server sending the same bytes from memory, 50 connections, each side the mean of a run before and after the other:',
        '',
        '| encoding | body bytes | API req/s | bare req/s | API / bare |',
        '|---|---:|---:|---:|---:|',
        ...pairs.map(
          ({ coding, api, bare: baseline }) =>
            `| ${coding === 'identity' ? 'none' : coding} | ${fmt(representations[coding].body.length)} | ${fmt(api.requestsPerSecond)} | ${fmt(baseline.requestsPerSecond)} | **${fmt(api.requestsPerSecond / baseline.requestsPerSecond, 2)}** |`,
        ),
        '',
        `Goal: API ≥ 0.8 × bare for the uncompressed page. The all-locations day: ${fmt(all.requestsPerSecond, 1)} req/s.`,
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
