import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createPool, ensureEmbeddedPostgres, migrateToLatest } from '../db/index.js';
import { createLogger } from '../runtime/logger.js';
import { copyReadingsPlain, writeReadings, type Reading } from '../collectors/index.js';

export interface BenchResult {
  readonly title: string;
  readonly markdown: string;
}

const ROWS = Number(process.env.BENCH_COLLECTOR_WRITE_ROWS ?? 200_000);
const BATCH = Number(process.env.BENCH_COLLECTOR_WRITE_BATCH ?? 1_000);
const ROUNDS = Number(process.env.BENCH_COLLECTOR_WRITE_ROUNDS ?? 3);
const LOCATIONS = 500;

function readings(offsetMs: number): Reading[] {
  const rows: Reading[] = [];
  const start = Date.UTC(2024, 0, 1) + offsetMs;
  for (let i = 0; i < ROWS; i += 1) {
    rows.push({
      locId: `B-${String(i % LOCATIONS).padStart(3, '0')}`,
      captureMs: start + Math.floor(i / LOCATIONS) * 1000,
      temperature: 20 + (i % 97) / 10,
      humidity: 40 + (i % 53) / 10,
      pcvTemperature: i % 11 === 0 ? null : 30.125,
    });
  }
  return rows;
}

/** The alternative the collector does not use: COPY into a temp table, then INSERT … ON CONFLICT. */
async function copyThroughTempTable(pool: pg.Pool, gateway: string, rows: readonly Reading[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      'CREATE TEMP TABLE IF NOT EXISTS bench_incoming (loc_id text, capture_dt timestamptz, temperature float8, humidity float8, pcv_temperature float8) ON COMMIT DELETE ROWS',
    );
    const text = rows
      .map((row) => `${row.locId}\t${new Date(row.captureMs).toISOString()}\t${row.temperature ?? '\\N'}\t${row.humidity ?? '\\N'}\t${row.pcvTemperature ?? '\\N'}\n`)
      .join('');
    await pipeline(Readable.from([text]), client.query(copyFrom('COPY bench_incoming FROM STDIN')));
    await client.query(
      `INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
       SELECT loc_id, capture_dt, temperature, humidity, pcv_temperature, $1 FROM bench_incoming ON CONFLICT (loc_id, capture_dt) DO NOTHING`,
      [gateway],
    );
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * The collector's write path (COPY into a temp table, INSERT … ON CONFLICT DO NOTHING, dirty-hour
 * triggers) against a plain COPY of the same rows in the same batch size into the same table,
 * alternating rounds on one server so that both see the same machine.
 */
export async function run(): Promise<BenchResult> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-collector-write-'));
  await fs.chmod(dataDir, 0o755);
  const server = await ensureEmbeddedPostgres({ dataDir, log });
  const schema = 'flet_montrg';
  const pool = createPool({ url: server.url, schema, applicationName: 'bench collector write', log, max: 2 });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db, schema, log);
    const rates = { collector: [] as number[], copy: [] as number[], temp: [] as number[] };
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const kind of round % 2 === 0 ? (['collector', 'copy', 'temp'] as const) : (['temp', 'copy', 'collector'] as const)) {
        await pool.query('TRUNCATE temperature_raw, raw_dirty_hour');
        const rows = readings(round * 86_400_000);
        const started = process.hrtime.bigint();
        for (let i = 0; i < rows.length; i += BATCH) {
          const batch = rows.slice(i, i + BATCH);
          if (kind === 'collector') await writeReadings(pool, 'gw-bench', batch, 60_000);
          else if (kind === 'copy') await copyReadingsPlain(pool, 'gw-bench', batch);
          else await copyThroughTempTable(pool, 'gw-bench', batch);
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        rates[kind].push(rows.length / seconds);
      }
    }
    const collector = median(rates.collector);
    const copy = median(rates.copy);
    const ratio = collector / copy;
    const markdown = [
      `### Collector write path vs plain COPY`,
      '',
      `${ROWS.toLocaleString('en')} readings of ${LOCATIONS} locations in batches of ${BATCH}, ${ROUNDS} alternating rounds, median (embedded PostgreSQL, default durability).`,
      '',
      '| path | rows/s |',
      '| --- | ---: |',
      `| collector (INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING) | ${Math.round(collector).toLocaleString('en')} |`,
      `| plain COPY into temperature_raw (baseline; fails on a replayed row) | ${Math.round(copy).toLocaleString('en')} |`,
      `| alternative not used: COPY → temp table → INSERT … ON CONFLICT | ${Math.round(median(rates.temp)).toLocaleString('en')} |`,
      `| **ratio collector / plain COPY** (goal ≥ 0.8) | **${ratio.toFixed(2)}** |`,
      '',
    ].join('\n');
    return { title: 'collector write path', markdown };
  } finally {
    await db.destroy();
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run();
  process.stdout.write(`${result.markdown}\n`);
}
