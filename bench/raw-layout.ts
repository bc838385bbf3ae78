import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import { createPool, migrateToLatest } from '../db/index.js';
import { createLogger } from '../runtime/logger.js';
import { openBenchDatabase, median } from './bench-database.js';

/**
 * Which layout for temperature_raw: measured, not guessed. The same COPY of N readings (100
 * locations, one reading per 10 s each) into four layouts of the table, in one run, rounds
 * interleaved so that the machine's noise hits all alike:
 *   chosen       plain table, PK (loc_id, capture_dt), BRIN (capture_dt), dirty-hour triggers
 *   btree        the same with a btree on capture_dt instead of the BRIN
 *   partitioned  declarative daily range partitions on capture_dt, same PK, BRIN and triggers
 *   no-triggers  the chosen layout without the dirty-hour triggers (their cost)
 */
const ROWS = Number(process.env.BENCH_RAW_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LOCATIONS = 100;
const START = Date.parse('2024-01-01T00:00:00Z');

const LAYOUTS = ['chosen', 'btree', 'partitioned', 'no-triggers'] as const;
type Layout = (typeof LAYOUTS)[number];

function readings(count: number): Readable {
  let produced = 0;
  return new Readable({
    read() {
      const lines: string[] = [];
      for (let i = 0; i < 5_000 && produced < count; i++, produced++) {
        const loc = produced % LOCATIONS;
        const t = new Date(START + Math.floor(produced / LOCATIONS) * 10_000).toISOString();
        lines.push(`L-${loc}\t${t}\t${(20 + (produced % 97) / 10).toFixed(1)}\t${(40 + (produced % 89) / 10).toFixed(1)}\t\\N\tgw-bench\n`);
      }
      this.push(lines.length ? lines.join('') : null);
    },
  });
}

async function prepare(url: string, layout: Layout): Promise<void> {
  const schema = `bench_${layout.replace('-', '_')}`;
  const log = createLogger('warn');
  const pool = createPool({ url, schema, applicationName: 'bench raw-layout', log });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  await migrateToLatest(db, schema, log);
  if (layout === 'btree') {
    await sql`DROP INDEX temperature_raw_capture_dt_brin`.execute(db);
    await sql`CREATE INDEX temperature_raw_capture_dt_btree ON temperature_raw (capture_dt)`.execute(db);
  }
  if (layout === 'no-triggers') {
    await sql`ALTER TABLE temperature_raw DISABLE TRIGGER USER`.execute(db);
  }
  if (layout === 'partitioned') {
    await sql`DROP TABLE temperature_raw`.execute(db);
    await sql`CREATE TABLE temperature_raw (
      loc_id text NOT NULL, capture_dt timestamptz NOT NULL, temperature double precision, humidity double precision,
      pcv_temperature double precision, gateway_id text NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (loc_id, capture_dt)) PARTITION BY RANGE (capture_dt)`.execute(db);
    await sql`CREATE INDEX ON temperature_raw USING brin (capture_dt)`.execute(db);
    const days = Math.ceil((ROWS / LOCATIONS) * 10 / 86_400) + 1;
    for (let day = 0; day < days; day++) {
      const from = new Date(START + day * 86_400_000).toISOString();
      const to = new Date(START + (day + 1) * 86_400_000).toISOString();
      await sql`CREATE TABLE ${sql.id(`temperature_raw_d${day}`)} PARTITION OF temperature_raw FOR VALUES FROM (${sql.lit(from)}) TO (${sql.lit(to)})`.execute(db);
    }
    await sql`CREATE TRIGGER mark_insert AFTER INSERT ON temperature_raw REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mark_dirty_hours()`.execute(db);
  }
  await db.destroy();
}

async function copyInto(url: string, layout: Layout): Promise<number> {
  const schema = `bench_${layout.replace('-', '_')}`;
  const pool = createPool({ url, schema, applicationName: 'bench raw-layout', log: createLogger('warn') });
  const client = await pool.connect();
  try {
    await client.query('TRUNCATE temperature_raw, raw_dirty_hour');
    await client.query('CHECKPOINT');
    const started = process.hrtime.bigint();
    await pipeline(readings(ROWS), client.query(copyFrom('COPY temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id) FROM STDIN')));
    return Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    client.release();
    await pool.end();
  }
}

export async function run(): Promise<string> {
  const bench = await openBenchDatabase('bench_raw_layout');
  try {
    for (const layout of LAYOUTS) await prepare(bench.url, layout);
    const seconds: Record<Layout, number[]> = { chosen: [], btree: [], partitioned: [], 'no-triggers': [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so that no layout always runs first (cold) or last.
      const order = LAYOUTS.map((_, i) => LAYOUTS[(i + round) % LAYOUTS.length]);
      for (const layout of order) seconds[layout].push(await copyInto(bench.url, layout));
    }
    const base = median(seconds.chosen);
    const lines = [
      `### temperature_raw layout: COPY of ${ROWS.toLocaleString('en')} readings (median of ${ROUNDS} rounds)`,
      '',
      '| layout | seconds | rows/s | time vs chosen |',
      '|---|---:|---:|---:|',
      ...LAYOUTS.map((layout) => {
        const s = median(seconds[layout]);
        return `| ${layout} | ${s.toFixed(2)} | ${Math.round(ROWS / s).toLocaleString('en')} | ${(s / base).toFixed(2)}x |`;
      }),
    ];
    return lines.join('\n');
  } finally {
    await bench.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${await run()}\n`);
}
