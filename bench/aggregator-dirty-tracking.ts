import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { copyReadings, envNumber, locIds, median, openBenchDatabase, type BenchDatabase, type BenchResult } from './bench-database.js';

/**
 * Cost of the dirty-hour tracking on the collector's write path: the same COPY into
 * temperature_raw with the statement-level triggers disabled and enabled, alternated in one run.
 * Also the collector's real shape: many small COPYs (one per poll round).
 */
/** off: no trigger; marks: the dirty-hour marks only; all: marks and the count of late readings for frozen hours (migration 0003). */
type Triggers = 'off' | 'marks' | 'all';
const SIDES: readonly Triggers[] = ['off', 'marks', 'all'];

async function copyWith(bench: BenchDatabase, triggers: Triggers, batches: number, rowsPerBatch: number, locations: number): Promise<number> {
  const { db, pool } = bench;
  await sql`TRUNCATE temperature_raw, raw_dirty_hour`.execute(db);
  await sql.raw(`ALTER TABLE temperature_raw ${triggers === 'off' ? 'DISABLE' : 'ENABLE'} TRIGGER USER`).execute(db);
  if (triggers === 'marks') {
    await sql`ALTER TABLE temperature_raw DISABLE TRIGGER temperature_raw_count_frozen_late_insert, DISABLE TRIGGER temperature_raw_count_frozen_late_update`.execute(db);
  }
  await sql`CHECKPOINT`.execute(db);
  const locs = locIds(locations);
  const perBatchSteps = Math.max(1, Math.round(rowsPerBatch / locations));
  let ms = 0;
  let start = Date.parse('2024-01-01T00:00:00Z');
  for (let i = 0; i < batches; i += 1) {
    const to = start + perBatchSteps * 10_000;
    ms += (await copyReadings(pool, { locIds: locs, from: new Date(start), to: new Date(to), stepSeconds: 10 })).ms;
    start = to;
  }
  await sql`ALTER TABLE temperature_raw ENABLE TRIGGER USER`.execute(db);
  return ms;
}

export async function run(): Promise<BenchResult> {
  const rows = envNumber('BENCH_DIRTY_ROWS', 1_000_000);
  const repeats = envNumber('BENCH_DIRTY_REPEATS', 5);
  const locations = 100;
  const bench = await openBenchDatabase();
  try {
    const big: Record<Triggers, number[]> = { off: [], marks: [], all: [] };
    const small: Record<Triggers, number[]> = { off: [], marks: [], all: [] };
    for (let r = 0; r < repeats; r += 1) {
      // Rotate which goes first, so that warm-up and drift do not favour one side.
      for (const triggers of [...SIDES.slice(r % 3), ...SIDES.slice(0, r % 3)]) {
        big[triggers].push(await copyWith(bench, triggers, 1, rows, locations));
        small[triggers].push(await copyWith(bench, triggers, 500, 200, locations));
      }
    }
    const bigRatio = median(big.all) / median(big.off);
    const smallRatio = median(small.all) / median(small.off);
    const s = (values: number[]) => `${(median(values) / 1000).toFixed(2)} s`;
    const markdown = [
      `One COPY of ${rows.toLocaleString('en')} rows (${locations} locations, a reading per 10 s), median of ${repeats}, triggers off, the dirty-hour marks only, and all triggers in the same run:`,
      '',
      '| write | triggers off | marks only | marks + frozen-late count | all / off (goal <= 1.15) | all / marks only |',
      '|---|---:|---:|---:|---:|---:|',
      `| 1 COPY x ${rows.toLocaleString('en')} rows | ${s(big.off)} | ${s(big.marks)} | ${s(big.all)} | **${bigRatio.toFixed(3)}** | ${(median(big.all) / median(big.marks)).toFixed(3)} |`,
      `| 500 COPYs x 200 rows (collector-like) | ${s(small.off)} | ${s(small.marks)} | ${s(small.all)} | ${smallRatio.toFixed(3)} | ${(median(small.all) / median(small.marks)).toFixed(3)} |`,
    ].join('\n');
    return { title: 'Aggregator: dirty-hour tracking overhead on COPY', markdown };
  } finally {
    await bench.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`);
}
