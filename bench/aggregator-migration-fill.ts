import { pathToFileURL } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { migrateDown, migrateToLatest } from '../db/index.js';
import { copyReadings, envNumber, locIds, openBenchDatabase, timed, type BenchResult } from './bench-database.js';

/**
 * What migration 0003 costs on an existing plant: a month of raw rows (BENCH_MIGRATION_LOCATIONS
 * locations, a reading per 10 s) and its hourly rows as 0002 knew them, then the migration (add
 * columns, fill MIN and counts from raw), timed against the hand-written INSERT ... SELECT ...
 * GROUP BY that made those hourly rows in the first place: the fill is one more pass over raw.
 */
const FROM = '2024-01-01T00:00:00Z';
const TO = '2024-02-01T00:00:00Z';

const oldHourlyRows = `
  INSERT INTO temperature (loc_id, bucket, ymd, hh, temperature_max, temperature_avg, humidity_max, humidity_avg, pcv_temperature_max, pcv_temperature_avg, sample_count)
  SELECT loc_id, reading_hour(capture_dt), to_char(reading_hour(capture_dt) AT TIME ZONE 'UTC', 'YYYYMMDD'), to_char(reading_hour(capture_dt) AT TIME ZONE 'UTC', 'HH24'),
         max(temperature), avg(temperature::numeric), max(humidity), avg(humidity::numeric), max(pcv_temperature), avg(pcv_temperature::numeric), count(*)
  FROM temperature_raw GROUP BY 1, 2`;

export async function run(): Promise<BenchResult> {
  const locations = envNumber('BENCH_MIGRATION_LOCATIONS', 10);
  const bench = await openBenchDatabase('bench_migration');
  const { db, pool, log } = bench;
  const anyDb = db as unknown as Kysely<unknown>;
  try {
    const reverted = await migrateDown(anyDb, 'flet_montrg', log);
    if (reverted[0] !== '0003-hourly-counts-and-coverage') throw new Error(`expected to revert 0003, reverted ${reverted.join(', ')}`);
    await sql`ALTER TABLE temperature_raw DISABLE TRIGGER USER`.execute(db);
    const loaded = await copyReadings(pool, { locIds: locIds(locations), from: new Date(FROM), to: new Date(TO), stepSeconds: 10 });
    await sql`ALTER TABLE temperature_raw ENABLE TRIGGER USER`.execute(db);
    await sql`VACUUM ANALYZE temperature_raw`.execute(db);
    const made = await timed(() => sql.raw(oldHourlyRows).execute(db));
    await sql`VACUUM ANALYZE temperature`.execute(db);
    const migrated = await timed(() => migrateToLatest(anyDb, 'flet_montrg', log));
    const { rows } = await sql<{ hours: number; filled: number }>`
      SELECT count(*) AS hours, count(temperature_count) AS filled FROM temperature`.execute(db);
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const markdown = [
      `${loaded.rows.toLocaleString('en')} raw rows (31 days x ${locations} locations, a reading per 10 s), ${rows[0]?.hours ?? 0} hourly rows:`,
      '',
      '| what | time |',
      '|---|---:|',
      `| the hourly rows as 0002 knew them, one INSERT ... SELECT ... GROUP BY | ${s(made.ms)} |`,
      `| migration 0003 (${migrated.value.join(', ')}): add columns, fill ${rows[0]?.filled ?? 0} hours from raw | ${s(migrated.ms)} |`,
      '',
      `Migration / the GROUP BY that made the hourly rows: **${(migrated.ms / made.ms).toFixed(2)}**, ${(migrated.ms / (loaded.rows / 1e6) / 1000).toFixed(2)} s per million raw rows:`,
      'one pass over the raw rows after the horizon with MIN and count only (no numeric AVG), plus a new version of every hourly row.',
    ].join('\n');
    return { title: 'Aggregator: migration 0003 on a month of data', markdown };
  } finally {
    await bench.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`);
}
