import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { ScheduledAggregator, backfill } from '../aggregator/index.js';
import { copyReadings, envNumber, locIds, median, openBenchDatabase, registerDevices, timed, type BenchResult } from './bench-database.js';

/**
 * What the climate columns of issue 13 (dew point, excursion counts and largest exceedances
 * against the threshold version in force at each reading, the Arrhenius sum) cost the two
 * aggregations that matter, measured side by side in one run:
 *
 * - a backfill of a month (BENCH_CLIMATE_LOCATIONS x 31 days, a reading per 10 s), against one
 *   hand-written INSERT ... SELECT ... GROUP BY computing the issue-12 columns only ("before")
 *   and one computing the issue-12 and the climate columns ("after"), alternated;
 * - a scheduled run after one new hour of every location, against the same two hand-written
 *   aggregations of that hour.
 *
 * Every location has two threshold versions (one since ever, one from mid-month), so the
 * version lookup has work to do. The hand-written SQL is independent of db/hourly-row.ts.
 */
const FROM = '2024-01-01T00:00:00Z';
const TO = '2024-02-01T00:00:00Z';
const HOUR_MS = 3_600_000;
const METRICS = ['temperature', 'humidity', 'pcv_temperature'];

const BEFORE_COLUMNS = [...METRICS.flatMap((m) => [`min(${m})`, `max(${m})`, `avg(${m}::numeric)::double precision`, `count(${m})`]), 'count(*)'];
const DEW = `CASE WHEN humidity > 0 THEN 243.04 * (ln(humidity / 100) + 17.625 * temperature / (243.04 + temperature)) / (17.625 - ln(humidity / 100) - 17.625 * temperature / (243.04 + temperature)) END`;
const AFTER_COLUMNS = [
  ...BEFORE_COLUMNS,
  `avg((${DEW})::numeric)::double precision`,
  `max(${DEW})`,
  `count(${DEW})`,
  'count(*) FILTER (WHERE temperature > tmax)',
  'count(*) FILTER (WHERE temperature < tmin)',
  'count(*) FILTER (WHERE humidity > hmax)',
  'count(*) FILTER (WHERE humidity < hmin)',
  'max(temperature - tmax) FILTER (WHERE temperature > tmax)',
  'max(tmin - temperature) FILTER (WHERE temperature < tmin)',
  'max(humidity - hmax) FILTER (WHERE humidity > hmax)',
  'max(hmin - humidity) FILTER (WHERE humidity < hmin)',
  'sum(exp(-83144 / 8.314462618 / (temperature + 273.15))::numeric)::double precision',
];
const selectList = (columns: readonly string[]) => columns.map((column, i) => `${column} AS c${i}`).join(', ');

/** Aggregates of [from, to) into a scratch table: the issue-12 columns, or those and the climate columns. */
function handWritten(columns: 'before' | 'after', from: string, to: string): string {
  const versions =
    columns === 'after'
      ? `LEFT JOIN (SELECT loc_id, valid_from, lead(valid_from, 1, 'infinity') OVER (PARTITION BY loc_id ORDER BY valid_from) AS valid_to,
                 temperature_min AS tmin, temperature_max AS tmax, humidity_min AS hmin, humidity_max AS hmax FROM location_threshold) v
           ON v.loc_id = r.loc_id AND r.capture_dt >= v.valid_from AND r.capture_dt < v.valid_to`
      : '';
  return `CREATE TEMP TABLE scratch AS
    SELECT r.loc_id, date_trunc('hour', capture_dt, 'UTC') AS bucket, ${selectList(columns === 'after' ? AFTER_COLUMNS : BEFORE_COLUMNS)}
    FROM temperature_raw r ${versions}
    WHERE capture_dt >= '${from}' AND capture_dt < '${to}'
    GROUP BY 1, 2`;
}

export async function run(): Promise<BenchResult> {
  const locations = envNumber('BENCH_CLIMATE_LOCATIONS', 10);
  const repeats = envNumber('BENCH_CLIMATE_REPEATS', 2);
  const runRepeats = envNumber('BENCH_CLIMATE_RUN_REPEATS', 7);
  const locs = locIds(locations);
  const bench = await openBenchDatabase('bench_climate');
  const { db, pool } = bench;
  try {
    await sql`ALTER TABLE temperature_raw DISABLE TRIGGER USER`.execute(db);
    const loaded = await copyReadings(pool, { locIds: locs, from: new Date(FROM), to: new Date(TO), stepSeconds: 10 });
    await sql`ALTER TABLE temperature_raw ENABLE TRIGGER USER`.execute(db);
    await registerDevices(db, locs, 10_000);
    for (const [validFrom, tmax] of [['-infinity', 21.5], ['2024-01-16T00:00:00Z', 22]] as const) {
      await db
        .insertInto('location_threshold')
        .values(locs.map((loc_id) => ({ loc_id, valid_from: validFrom, temperature_min: 19, temperature_max: tmax, humidity_min: 46, humidity_max: 54, changed_by: 'bench', reason: 'bench' })))
        .execute();
    }
    await sql`TRUNCATE raw_dirty_hour`.execute(db);
    await sql`VACUUM ANALYZE temperature_raw`.execute(db);

    const scratch = async (query: string) => {
      await sql`DROP TABLE IF EXISTS scratch`.execute(db);
      return (await timed(() => db.connection().execute((connection) => sql.raw(query).execute(connection)))).ms;
    };
    // Backfill: before, after, ours, alternating order.
    const month = { before: [] as number[], after: [] as number[], backfill: [] as number[] };
    for (let r = 0; r < repeats; r += 1) {
      month.before.push(await scratch(handWritten('before', FROM, TO)));
      await sql`TRUNCATE temperature`.execute(db);
      month.backfill.push((await timed(() => backfill(db, { timezone: 'UTC', start: '2024-01-01', end: '2024-01-31' }))).ms);
      month.after.push(await scratch(handWritten('after', FROM, TO)));
    }

    // Scheduled run after one new hour of every location, and the same hour by hand.
    const hourly = { before: [] as number[], after: [] as number[], run: [] as number[] };
    for (let i = -1; i < runRepeats; i += 1) {
      const hour = Date.parse(TO) + (i + 1) * HOUR_MS;
      await copyReadings(pool, { locIds: locs, from: new Date(hour), to: new Date(hour + HOUR_MS), stepSeconds: 10 });
      const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log: bench.log, clock: () => new Date(hour + HOUR_MS + 300_000) });
      const from = new Date(hour).toISOString();
      const to = new Date(hour + HOUR_MS).toISOString();
      const before = await scratch(handWritten('before', from, to));
      const ran = await timed(() => aggregator.runOnce('bench'));
      const after = await scratch(handWritten('after', from, to));
      if (ran.value?.claimed !== locations) throw new Error(`expected ${locations} dirty hours, got ${ran.value?.claimed}`);
      if (i < 0) continue; // warm-up
      hourly.before.push(before);
      hourly.run.push(ran.ms);
      hourly.after.push(after);
    }
    const best = (values: number[]) => Math.min(...values);
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const m = (ms: number) => `${ms.toFixed(1)} ms`;
    const markdown = [
      `${loaded.rows.toLocaleString('en')} raw rows (31 days x ${locations} locations, a reading per 10 s), two threshold versions per location. Month: best of ${repeats}; hour: median of ${runRepeats}.`,
      '',
      '| what | before (issue-12 columns) | after (+ climate columns) | after / before |',
      '|---|---:|---:|---:|',
      `| hand-written GROUP BY of the month | ${s(best(month.before))} | ${s(best(month.after))} | **${(best(month.after) / best(month.before)).toFixed(2)}** |`,
      `| hand-written GROUP BY of one new hour (${locations} locations) | ${m(median(hourly.before))} | ${m(median(hourly.after))} | **${(median(hourly.after) / median(hourly.before)).toFixed(2)}** |`,
      '',
      `\`aggregator backfill\` of the month (all columns): ${s(best(month.backfill))}; hand-written with the same columns / backfill: **${(best(month.after) / best(month.backfill)).toFixed(2)}** (>= 1.0: the machinery costs nothing).`,
      `Scheduled run after the new hour (all columns, ${locations} dirty hours): ${m(median(hourly.run))} median.`,
      `All times (ms): ${JSON.stringify({ month: Object.fromEntries(Object.entries(month).map(([k, v]) => [k, v.map(Math.round)])), hour: Object.fromEntries(Object.entries(hourly).map(([k, v]) => [k, v.map((x) => Math.round(x * 10) / 10)])) })}.`,
    ].join('\n');
    return { title: 'Aggregator: what the climate columns cost the backfill and the scheduled run', markdown };
  } finally {
    await bench.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`);
}
