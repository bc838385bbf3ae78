import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { backfill } from '../aggregator/index.js';
import { copyReadings, envNumber, locIds, openBenchDatabase, registerDevices, timed, type BenchResult } from './bench-database.js';

/**
 * Backfill of a month (31 days x BENCH_BACKFILL_LOCATIONS at a reading per 10 s; the issue's full
 * size is 100 locations, about 27M rows) against one hand-written INSERT ... SELECT ... GROUP BY
 * over the same range into an empty table, alternated in the same run. The baseline computes
 * the same columns the same way (MIN, MAX, numeric AVG and count per metric, local ymd/hh,
 * expected_count from the devices), so the ratio is the price of the
 * backfill's machinery: day chunks, the upsert with its IS DISTINCT FROM guard, the deletion of
 * hours without raw rows. A float-AVG baseline is timed too, as the price of deterministic AVG.
 */
const FROM = '2024-01-01T00:00:00Z';
const TO = '2024-02-01T00:00:00Z';

const METRICS = ['temperature', 'humidity', 'pcv_temperature'];

/**
 * The same columns as db/hourly-row.ts, written by hand: MIN, MAX, AVG and count per metric, the
 * reading count, local ymd/hh, and expected_count from the devices' poll intervals.
 */
const baselineSql = (avg: (metric: string) => string) => `
  INSERT INTO temperature (loc_id, bucket, ymd, hh, ${METRICS.map((m) => `${m}_min, ${m}_max, ${m}_avg, ${m}_count`).join(', ')}, sample_count, expected_count)
  SELECT g.*, e.expected FROM (
    SELECT loc_id, date_trunc('hour', capture_dt, 'UTC'),
           to_char(date_trunc('hour', capture_dt, 'UTC') AT TIME ZONE 'UTC', 'YYYYMMDD'),
           to_char(date_trunc('hour', capture_dt, 'UTC') AT TIME ZONE 'UTC', 'HH24'),
           ${METRICS.map((m) => `min(${m}), max(${m}), ${avg(m)}, count(${m})`).join(', ')}, count(*)
    FROM temperature_raw
    WHERE capture_dt >= '${FROM}' AND capture_dt < '${TO}'
    GROUP BY 1, 2) AS g
  LEFT JOIN (SELECT loc_id, round(sum(3600000.0 / poll_interval_ms))::integer AS expected FROM device GROUP BY loc_id) AS e USING (loc_id)`;

export async function run(): Promise<BenchResult> {
  const locations = envNumber('BENCH_BACKFILL_LOCATIONS', 10);
  const repeats = envNumber('BENCH_BACKFILL_REPEATS', 2);
  const bench = await openBenchDatabase();
  const { db, pool } = bench;
  try {
    // The history is loaded as a bulk import would be, without dirty marks: a backfill does not use them.
    await sql`ALTER TABLE temperature_raw DISABLE TRIGGER USER`.execute(db);
    const loaded = await copyReadings(pool, { locIds: locIds(locations), from: new Date(FROM), to: new Date(TO), stepSeconds: 10 });
    await sql`ALTER TABLE temperature_raw ENABLE TRIGGER USER`.execute(db);
    await registerDevices(db, locIds(locations), 10_000);
    await sql`VACUUM ANALYZE temperature_raw`.execute(db);
    await sql`SELECT count(*) FROM temperature_raw`.execute(db);

    const base: number[] = [];
    const ours: number[] = [];
    const floatBase: number[] = [];
    let hours = 0;
    for (let r = 0; r < repeats; r += 1) {
      await sql`TRUNCATE temperature`.execute(db);
      base.push((await timed(() => sql.raw(baselineSql((m) => `avg(${m}::numeric)::double precision`)).execute(db))).ms);
      await sql`TRUNCATE temperature`.execute(db);
      const filled = await timed(() => backfill(db, { timezone: 'UTC', start: '2024-01-01', end: '2024-01-31' }));
      ours.push(filled.ms);
      hours = filled.value.written;
      await sql`TRUNCATE temperature`.execute(db);
      floatBase.push((await timed(() => sql.raw(baselineSql((m) => `avg(${m})`)).execute(db))).ms);
    }
    await sql`TRUNCATE temperature`.execute(db);
    await backfill(db, { timezone: 'UTC', start: '2024-01-01', end: '2024-01-31' });
    const rerun = await timed(() => backfill(db, { timezone: 'UTC', start: '2024-01-01', end: '2024-01-31' }));
    const best = (values: number[]) => Math.min(...values);
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const ratio = best(base) / best(ours);
    const markdown = [
      `${loaded.rows.toLocaleString('en')} raw rows (31 days x ${locations} locations, a reading per 10 s; full size: BENCH_BACKFILL_LOCATIONS=100), best of ${repeats}:`,
      '',
      '| what | time | rows/s |',
      '|---|---:|---:|',
      `| hand-written INSERT ... SELECT ... GROUP BY, same columns (MIN/MAX/numeric AVG/count per metric, expected_count), one statement | ${s(best(base))} | ${Math.round(loaded.rows / (best(base) / 1000)).toLocaleString('en')} |`,
      `| \`aggregator backfill\` 2024-01-01..2024-01-31 (31 day chunks, ${hours} hours written) | ${s(best(ours))} | ${Math.round(loaded.rows / (best(ours) / 1000)).toLocaleString('en')} |`,
      `| same backfill again (nothing changed: ${rerun.value.written} written, ${rerun.value.unchanged} unchanged) | ${s(rerun.ms)} | |`,
      `| hand-written with float AVG (not deterministic; for the price of numeric AVG) | ${s(best(floatBase))} | |`,
      '',
      `Backfill throughput / hand-written throughput: **${ratio.toFixed(3)}** (goal >= 1.0).`,
      `All times: ${JSON.stringify({ base: base.map(Math.round), backfill: ours.map(Math.round), floatBase: floatBase.map(Math.round) })} ms.`,
    ].join('\n');
    return { title: 'Aggregator: backfill of a month vs one hand-written GROUP BY', markdown };
  } finally {
    await bench.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`);
}
