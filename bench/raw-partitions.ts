import { pathToFileURL } from 'node:url';
import { Migrator, sql, type Kysely } from 'kysely';
import { ScheduledAggregator, backfill, pruneRaw } from '../aggregator/index.js';
import { createRawPartitions, listRawPartitions, migrateToLatest, type Database } from '../db/index.js';
import { migrations } from '../migrations/index.js';
import { copyReadingsPlain, writeReadings, type Reading } from '../collectors/index.js';
import { copyReadings, envNumber, locIds, median, openBenchDatabases, timed, type BenchDatabase, type BenchResult } from './bench-database.js';

/**
 * The day-partitioned raw table (migration 0005) against the plain table it replaces, side by
 * side on one server, in one run:
 *   1. the collector's writer (COPY per day into the day partition) vs a plain COPY of the same
 *      batches into the plain table (rounds alternating);
 *   2. a scheduled run after one new hour with a year of day partitions vs a day of them;
 *   3. the backfill of January on each;
 *   4. the prune of one month of BENCH_PRUNE_LOCATIONS locations at a reading per 10 s (100:
 *      26.8M rows) by dropping partitions, against the DELETE-based prune this replaced (its
 *      loop is copied below), and the new prune with 3 months of history kept vs 1 month;
 *   5. the conversion migration of a plain table with rows (time per million rows).
 * Bulk data are generated in SQL (INSERT ... SELECT generate_series), straight into the day
 * partitions or with the plain table's triggers disabled: as an import would, without marks.
 */
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const CONVERSION = '0005-time-partitioned-raw';
const PREVIOUS = Object.keys(migrations).filter((name) => name < CONVERSION).sort().at(-1) ?? '';

const day = (time: number) => new Date(time).toISOString().slice(0, 10);
const fmt = (n: number) => n.toLocaleString('en');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Back to the plain table (migration 0005 reverted). */
async function plain(database: BenchDatabase): Promise<void> {
  const migrator = new Migrator({ db: database.db as Kysely<unknown>, provider: { getMigrations: () => Promise.resolve(migrations) }, migrationTableSchema: 'flet_montrg' });
  const { error } = await migrator.migrateTo(PREVIOUS);
  if (error) throw error instanceof Error ? error : new Error(JSON.stringify(error));
}

/** `locations` readings every 10 s over [from, from + days), one INSERT per day, into `table`. */
async function generate(db: Kysely<Database>, table: (dayStart: number) => string, locations: number, from: number, days: number): Promise<number> {
  let rows = 0;
  for (let start = from; start < from + days * DAY_MS; start += DAY_MS) {
    const result = await sql`
      INSERT INTO ${sql.id(table(start))} (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
      SELECT 'BENCH-' || lpad(l::text, 3, '0'), t, 20 + (l % 7) + extract(minute FROM t) / 60.0, 45 + (l % 5), NULL, 'gw-bench'
      FROM generate_series(1, ${locations}) AS l,
           generate_series(${new Date(start)}::timestamptz, ${new Date(start + DAY_MS - 10_000)}::timestamptz, interval '10 seconds') AS t`.execute(db);
    rows += Number(result.numAffectedRows ?? 0);
  }
  return rows;
}
const partitionOf = (start: number) => `temperature_raw_p${day(start).replaceAll('-', '')}`;

async function plainGenerate(db: Kysely<Database>, locations: number, from: number, days: number): Promise<number> {
  await sql`ALTER TABLE temperature_raw DISABLE TRIGGER USER`.execute(db);
  try {
    return await generate(db, () => 'temperature_raw', locations, from, days);
  } finally {
    await sql`ALTER TABLE temperature_raw ENABLE TRIGGER USER`.execute(db);
  }
}

/**
 * The prune of raw rows before `horizon` as it was before partitions (aggregator/raw-retention.ts
 * at b8f6f54~1, its delete loop): per location along the primary key, one DELETE per 24 h slice,
 * each firing the dirty-hour trigger, then the marks before the horizon dropped.
 */
async function deleteBasedPrune(db: Kysely<Database>, horizon: Date): Promise<number> {
  const { rows: locations } = await sql<{ loc_id: string }>`
    WITH RECURSIVE locs AS (
      (SELECT loc_id FROM temperature_raw ORDER BY loc_id LIMIT 1)
      UNION ALL
      SELECT (SELECT r.loc_id FROM temperature_raw r WHERE r.loc_id > locs.loc_id ORDER BY r.loc_id LIMIT 1)
      FROM locs WHERE locs.loc_id IS NOT NULL
    )
    SELECT loc_id FROM locs WHERE loc_id IS NOT NULL`.execute(db);
  let deleted = 0;
  for (const { loc_id: locId } of locations) {
    let cursor: Date | undefined = new Date(0);
    while (cursor) {
      const found: { rows: { next: Date | null }[] } = await sql<{ next: Date | null }>`
        SELECT min(capture_dt) AS next FROM temperature_raw WHERE loc_id = ${locId} AND capture_dt >= ${cursor} AND capture_dt < ${horizon}`.execute(db);
      const next: Date | undefined = found.rows[0]?.next ?? undefined;
      if (!next) break;
      const to: Date = new Date(Math.min(next.getTime() + DAY_MS, horizon.getTime()));
      const result = await sql`DELETE FROM temperature_raw WHERE loc_id = ${locId} AND capture_dt >= ${next} AND capture_dt < ${to}`.execute(db);
      deleted += Number(result.numAffectedRows ?? 0);
      cursor = to;
    }
  }
  await sql`DELETE FROM raw_dirty_hour WHERE bucket < ${horizon}`.execute(db);
  return deleted;
}

/** `rows` readings of 100 locations every 10 s from `from`, in the collector's shape. */
function collectorReadings(rows: number, from: number): Reading[] {
  const locs = locIds(100);
  return Array.from({ length: rows }, (_, i) => ({
    locId: locs[i % locs.length] ?? '',
    captureMs: from + Math.floor(i / locs.length) * 10_000,
    values: { temperature: 20 + (i % 97) / 10, humidity: 40 + (i % 53) / 10, pcv_temperature: i % 13 === 0 ? null : 30.125 },
  }));
}

/**
 * What the collector does, side by side: its writer (collectors/raw-table-writer.ts: a COPY per
 * UTC day of each batch, straight into the day partition) into the partitioned table, against a
 * plain COPY of the same batches into the plain table, both through the dirty-hour and
 * frozen-late statement triggers. A third row, for reference: a COPY naming the partitioned
 * parent, which PostgreSQL runs row by row (no multi-inserts) because of those triggers.
 */
async function copySection(part: BenchDatabase, flat: BenchDatabase): Promise<string[]> {
  const rows = envNumber('BENCH_COPY_ROWS', 1_000_000);
  const rounds = envNumber('BENCH_ROUNDS', 3);
  const batchSize = envNumber('BENCH_COPY_BATCH', 1_000);
  const from = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
  const readings = collectorReadings(rows, from);
  const batches: Reading[][] = [];
  for (let i = 0; i < readings.length; i += batchSize) batches.push(readings.slice(i, i + batchSize));
  const days = new Set(readings.map((reading) => day(reading.captureMs)));
  const sides = {
    collector: { database: part, write: (batch: Reading[]) => writeReadings(part.pool, 'gw-bench', batch, 600_000) },
    plain: { database: flat, write: (batch: Reading[]) => copyReadingsPlain(flat.pool, 'gw-bench', batch) },
    parent: { database: part, write: (batch: Reading[]) => copyReadingsPlain(part.pool, 'gw-bench', batch) },
  };
  type Side = keyof typeof sides;
  const order: Side[] = ['collector', 'plain', 'parent'];
  const times: Record<Side, number[]> = { collector: [], plain: [], parent: [] };
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 ? [...order].reverse() : order) {
      const { database, write } = sides[side];
      await sql`TRUNCATE temperature_raw, raw_dirty_hour`.execute(database.db);
      const copied = await timed(async () => {
        for (const batch of batches) await write(batch);
      });
      times[side].push(copied.ms);
    }
  }
  const stored = await sql<{ partitions: number }>`SELECT count(DISTINCT tableoid)::int AS partitions FROM temperature_raw`.execute(part.db);
  await sql`TRUNCATE temperature_raw, raw_dirty_hour`.execute(part.db);
  await sql`TRUNCATE temperature_raw, raw_dirty_hour`.execute(flat.db);
  const rate = (side: Side) => fmt(Math.round(rows / (median(times[side]) / 1000)));
  const ratio = median(times.plain) / median(times.collector);
  return [
    `### COPY of ${fmt(rows)} readings (100 locations, every 10 s, yesterday and today: ${days.size} UTC days, ${stored.rows[0]?.partitions ?? 0} partitions) in the collector's batches of ${fmt(batchSize)}, through the dirty-hour triggers, median of ${rounds} alternating rounds`,
    '',
    '| write | time | readings/s |',
    '|---|---:|---:|',
    `| plain COPY into the plain table | ${seconds(median(times.plain))} | ${rate('plain')} |`,
    `| the collector's writer into the day-partitioned table (COPY per day into its partition) | ${seconds(median(times.collector))} | ${rate('collector')} |`,
    `| for reference: COPY naming the partitioned parent (row by row) | ${seconds(median(times.parent))} | ${rate('parent')} |`,
    '',
    `Collector into partitions / plain throughput: **${ratio.toFixed(3)}** (goal >= 0.9); COPY through the parent / plain: ${(median(times.plain) / median(times.parent)).toFixed(3)}.`,
    `Rounds (ms): plain ${JSON.stringify(times.plain.map(Math.round))}, collector ${JSON.stringify(times.collector.map(Math.round))}, parent ${JSON.stringify(times.parent.map(Math.round))}.`,
  ];
}

async function scheduledSection(year: BenchDatabase, oneDay: BenchDatabase): Promise<string[]> {
  const repeats = envNumber('BENCH_RUN_REPEATS', 7);
  const locs = locIds(100);
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  // One day partition (today's) and the default in one; today's and the 365 days before it in the other.
  for (const partition of await listRawPartitions(oneDay.db)) {
    if (!partition.isDefault && partition.from?.getTime() !== today) await sql`DROP TABLE ${sql.id(partition.name)}`.execute(oneDay.db);
  }
  await createRawPartitions(year.db, { from: new Date(today - 365 * DAY_MS), to: new Date(today) });
  const count = async (database: BenchDatabase) => (await listRawPartitions(database.db)).length;
  // Runs are clocked at today 23:59 so that the scheduled run's partition-ahead step finds its days made already in both.
  const hours = Array.from({ length: repeats + 1 }, (_, i) => today + i * HOUR_MS);
  const clock = () => new Date(today + 23 * HOUR_MS + 59 * 60_000);
  const times = { year: [] as number[], day: [] as number[] };
  for (const [i, hour] of hours.entries()) {
    for (const side of i % 2 ? (['day', 'year'] as const) : (['year', 'day'] as const)) {
      const database = side === 'year' ? year : oneDay;
      await copyReadings(database.pool, { locIds: locs, from: new Date(hour), to: new Date(hour + HOUR_MS), stepSeconds: 10 });
      const aggregator = new ScheduledAggregator({ db: database.db, timezone: 'UTC', log: database.log, clock });
      const report = await timed(() => aggregator.runOnce('bench'));
      if (report.value?.claimed !== locs.length) throw new Error(`expected ${locs.length} dirty hours, got ${report.value?.claimed}`);
      if (i > 0) times[side].push(report.ms); // the first round warms both up
    }
  }
  // Counted after the runs: the first one also made the week ahead, as every scheduled run does.
  const counts = { year: await count(year), day: await count(oneDay) };
  const ratio = median(times.year) / median(times.day);
  return [
    `### Scheduled run after one new hour (100 locations x 360 readings, 100 dirty hours), median of ${repeats}, alternating`,
    '',
    '| raw partitions | run time |',
    '|---|---:|',
    `| a day (${counts.day} incl. the default) | ${median(times.day).toFixed(1)} ms |`,
    `| a year (${counts.year} incl. the default) | ${median(times.year).toFixed(1)} ms |`,
    '',
    `Year / day: **${ratio.toFixed(3)}** (goal <= 1.5). Runs (ms): day ${JSON.stringify(times.day.map(Math.round))}, year ${JSON.stringify(times.year.map(Math.round))}.`,
  ];
}

async function backfillSection(part: BenchDatabase, flat: BenchDatabase): Promise<string[]> {
  const locations = envNumber('BENCH_BACKFILL_LOCATIONS', 10);
  const repeats = envNumber('BENCH_BACKFILL_REPEATS', 2);
  const january = Date.parse('2024-01-01T00:00:00Z');
  await createRawPartitions(part.db, { from: new Date(january), to: new Date(january + 30 * DAY_MS) });
  const rows = await generate(part.db, partitionOf, locations, january, 31);
  await plainGenerate(flat.db, locations, january, 31);
  for (const database of [part, flat]) await sql`VACUUM ANALYZE temperature_raw`.execute(database.db);
  const times = { part: [] as number[], flat: [] as number[] };
  for (let i = -1; i < repeats; i++) {
    for (const side of i % 2 ? (['flat', 'part'] as const) : (['part', 'flat'] as const)) {
      const database = side === 'part' ? part : flat;
      const filled = await timed(() => backfill(database.db, { timezone: 'UTC', start: '2024-01-01', end: '2024-01-31' }));
      if (i >= 0) times[side].push(filled.ms);
    }
  }
  const best = (values: number[]) => Math.min(...values);
  return [
    `### Backfill of January 2024 (${fmt(rows)} raw rows: ${locations} locations every 10 s; full size BENCH_BACKFILL_LOCATIONS=100), best of ${repeats} after a warm-up, alternating`,
    '',
    '| table | backfill |',
    '|---|---:|',
    `| plain | ${seconds(best(times.flat))} |`,
    `| day-partitioned (31 January partitions) | ${seconds(best(times.part))} |`,
    '',
    `Partitioned / plain time: **${(best(times.part) / best(times.flat)).toFixed(3)}** (goal: unchanged within noise).`,
  ];
}

async function pruneSection(part: BenchDatabase, flat: BenchDatabase): Promise<string[]> {
  const locations = envNumber('BENCH_PRUNE_LOCATIONS', 100);
  const march = Date.parse('2024-03-01T00:00:00Z');
  const months = [march, Date.parse('2024-04-01T00:00:00Z'), Date.parse('2024-05-01T00:00:00Z'), Date.parse('2024-06-01T00:00:00Z'), Date.parse('2024-07-01T00:00:00Z')];
  // Partitioned: March to June (one month pruned, three kept); plain: March and 1 April. Nothing else before July 2024.
  await sql`TRUNCATE temperature_raw, raw_dirty_hour`.execute(flat.db);
  await sql`TRUNCATE raw_dirty_hour`.execute(part.db);
  for (const partition of await listRawPartitions(part.db)) {
    if (partition.isDefault) await sql`TRUNCATE ${sql.id(partition.name)}`.execute(part.db);
    else if ((partition.to?.getTime() ?? Infinity) <= months[4]) await sql`DROP TABLE ${sql.id(partition.name)}`.execute(part.db);
  }
  await createRawPartitions(part.db, { from: new Date(march), to: new Date(months[4] - DAY_MS) });
  const load = await timed(() => generate(part.db, partitionOf, locations, march, (months[4] - march) / DAY_MS));
  const flatRows = await plainGenerate(flat.db, locations, march, 32);
  for (const database of [part, flat]) await sql`VACUUM ANALYZE temperature_raw`.execute(database.db);
  // A horizon one hour into the next month: whole days dropped, one hour trimmed by DELETE, as an hourly prune would.
  const prune = (database: BenchDatabase, monthEnd: number) =>
    timed(() => pruneRaw(database.db, { timezone: 'UTC', retentionMs: 2 * DAY_MS, now: new Date(monthEnd + HOUR_MS + 2 * DAY_MS), batchSize: 500, log: database.log }));
  const oldHorizon = new Date(months[1] + HOUR_MS);
  const baseline = await timed(() => deleteBasedPrune(flat.db, oldHorizon));
  const first = await prune(part, months[1]); // March; April to June kept (3 months)
  const second = await prune(part, months[2]); // April; 2 months kept
  const third = await prune(part, months[3]); // May; June kept (1 month)
  const line = (what: string, rows: number, ms: number) => `| ${what} | ${fmt(rows)} | ${seconds(ms)} |`;
  return [
    `### Prune of one month, ${locations} locations every 10 s`,
    '',
    `Loaded ${fmt(load.value)} rows into day partitions (March to June 2024) in ${seconds(load.ms)} (${fmt(Math.round(load.value / (load.ms / 1000)))} rows/s) and ${fmt(flatRows)} into the plain table (March and 1 April).`,
    '',
    '| prune | raw rows removed | time |',
    '|---|---:|---:|',
    line('DELETE-based (before this change), plain table, March + 1 h', baseline.value, baseline.ms),
    line(`partitions, March + 1 h, 3 months kept (${first.value.partitionsDropped.length} partitions dropped)`, first.value.rawRowsDeleted, first.ms),
    line(`partitions, April + 1 h, 2 months kept (${second.value.partitionsDropped.length} dropped)`, second.value.rawRowsDeleted, second.ms),
    line(`partitions, May + 1 h, 1 month kept (${third.value.partitionsDropped.length} dropped)`, third.value.rawRowsDeleted, third.ms),
    '',
    `DELETE-based / partitions (March): **${(baseline.ms / first.ms).toFixed(1)}x** faster. 3 months kept / 1 month kept: **${(first.ms / third.ms).toFixed(2)}** (goal: flat, about 1).`,
  ];
}

async function conversionSection(database: BenchDatabase): Promise<string[]> {
  const locations = envNumber('BENCH_CONVERT_LOCATIONS', 100);
  const days = envNumber('BENCH_CONVERT_DAYS', 5);
  await plain(database);
  const rows = await plainGenerate(database.db, locations, Math.floor(Date.now() / DAY_MS) * DAY_MS - days * DAY_MS, days);
  await sql`VACUUM ANALYZE temperature_raw`.execute(database.db);
  const converted = await timed(() => migrateToLatest(database.db as Kysely<unknown>, 'flet_montrg', database.log));
  return [
    `### Conversion of a plain table with ${fmt(rows)} rows (migration 0005, \`plant-climate migrate\`)`,
    '',
    `${seconds(converted.ms)}: **${((converted.ms / rows) * 1e6 / 1000).toFixed(2)} s per million rows** (two sequential scans under the rename's lock; no row copied).`,
  ];
}

export async function run(): Promise<BenchResult> {
  const only = process.env.BENCH_RAW_PARTITIONS_ONLY?.split(',');
  const wants = (section: string) => !only || only.includes(section);
  const { databases, close } = await openBenchDatabases(['bench_rp_part', 'bench_rp_plain', 'bench_rp_day', 'bench_rp_convert']);
  const [part, flat, oneDay, convert] = databases as [BenchDatabase, BenchDatabase, BenchDatabase, BenchDatabase];
  try {
    await plain(flat);
    const sections: string[][] = [];
    const step = async (name: string, fn: () => Promise<string[]>) => {
      if (!wants(name)) return;
      process.stderr.write(`raw-partitions: ${name} ...\n`);
      const result = await timed(fn);
      process.stderr.write(`raw-partitions: ${name} done in ${seconds(result.ms)}\n`);
      sections.push(result.value);
    };
    await step('copy', () => copySection(part, flat));
    await step('scheduled', () => scheduledSection(part, oneDay));
    await step('backfill', () => backfillSection(part, flat));
    await step('prune', () => pruneSection(part, flat));
    await step('conversion', () => conversionSection(convert));
    return { title: 'Raw table: day partitions vs the plain table', markdown: sections.map((lines) => lines.join('\n')).join('\n\n') };
  } finally {
    await close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`);
}
