import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { ScheduledAggregator, backfill } from '../aggregator/index.js';
import { copyReadings, envNumber, locIds, median, openBenchDatabases, registerDevices, timed, type BenchDatabase, type BenchResult } from './bench-database.js';

/**
 * The cost of a scheduled run after one new hour of data must follow the new data, not the size
 * of the table. Two databases on one server, one holding a day of raw history and one a month
 * (BENCH_RUN_LOCATIONS locations at a reading per 10 s, aggregated); then, alternately in each,
 * one new hour is written through the dirty-hour triggers and a run is timed, so that the
 * machine's drift hits both sides alike.
 */
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const MONTH_START = Date.parse('2024-01-01T00:00:00Z');
const LAST_DAY = MONTH_START + 30 * DAY_MS;

async function loadHistory(database: BenchDatabase, locs: readonly string[], days: number): Promise<number> {
  const { db, pool } = database;
  // Loaded as an import would be (no marks), then aggregated by a backfill.
  await sql`ALTER TABLE temperature_raw DISABLE TRIGGER USER`.execute(db);
  const loaded = await copyReadings(pool, { locIds: locs, from: new Date(LAST_DAY + DAY_MS - days * DAY_MS), to: new Date(LAST_DAY + DAY_MS), stepSeconds: 10 });
  await sql`ALTER TABLE temperature_raw ENABLE TRIGGER USER`.execute(db);
  await registerDevices(db, locs, 10_000);
  await backfill(db, { timezone: 'UTC', start: new Date(LAST_DAY + DAY_MS - days * DAY_MS).toISOString().slice(0, 10), end: '2024-01-31' });
  await sql`VACUUM ANALYZE temperature_raw`.execute(db);
  return loaded.rows;
}

async function runAfterNewHour(database: BenchDatabase, locs: readonly string[], hour: number): Promise<number> {
  await copyReadings(database.pool, { locIds: locs, from: new Date(hour), to: new Date(hour + HOUR_MS), stepSeconds: 10 });
  const aggregator = new ScheduledAggregator({ db: database.db, timezone: 'UTC', log: database.log, clock: () => new Date(hour + HOUR_MS + 5 * 60_000) });
  const report = await timed(() => aggregator.runOnce('bench'));
  if (report.value?.claimed !== locs.length) throw new Error(`expected ${locs.length} dirty hours, got ${report.value?.claimed}`);
  return report.ms;
}

export async function run(): Promise<BenchResult> {
  const locations = envNumber('BENCH_RUN_LOCATIONS', 20);
  const repeats = envNumber('BENCH_RUN_REPEATS', 9);
  const locs = locIds(locations);
  const { databases, close } = await openBenchDatabases(['bench_run_day', 'bench_run_month']);
  const [day, month] = databases as [BenchDatabase, BenchDatabase];
  try {
    const dayRows = await loadHistory(day, locs, 1);
    const monthRows = await loadHistory(month, locs, 31);
    const times = { day: [] as number[], month: [] as number[] };
    for (let i = -1; i < repeats; i += 1) {
      const hour = LAST_DAY + DAY_MS + (i + 1) * HOUR_MS;
      const order = i % 2 ? (['day', 'month'] as const) : (['month', 'day'] as const);
      for (const side of order) {
        const ms = await runAfterNewHour(side === 'day' ? day : month, locs, hour);
        if (i >= 0) times[side].push(ms); // i = -1 warms both up
      }
    }
    const ratio = median(times.month) / median(times.day);
    const markdown = [
      `A run after one new hour (${locations} locations x 360 readings = ${(locations * 360).toLocaleString('en')} rows, so ${locations} dirty hours), median of ${repeats}, alternating between the two databases (full size: BENCH_RUN_LOCATIONS=100):`,
      '',
      '| raw history | raw rows | run time |',
      '|---|---:|---:|',
      `| a day | ${dayRows.toLocaleString('en')} | ${median(times.day).toFixed(1)} ms |`,
      `| a month | ${monthRows.toLocaleString('en')} | ${median(times.month).toFixed(1)} ms |`,
      '',
      `Month / day: **${ratio.toFixed(3)}** (goal <= 1.5). Runs (ms): day ${JSON.stringify(times.day.map(Math.round))}, month ${JSON.stringify(times.month.map(Math.round))}.`,
    ].join('\n');
    return { title: 'Aggregator: scheduled run cost with a month vs a day of raw data', markdown };
  } finally {
    await close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`);
}
