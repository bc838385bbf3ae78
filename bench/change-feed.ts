import { sql } from 'kysely';
import pg from 'pg';
import { buildApp } from '../api/index.js';
import { loadConfig } from '../runtime/config.js';
import { openBenchDatabase, type BenchResult } from './bench-database.js';

/**
 * The change feed (GET /v1/changes): (a) a consumer catching up from after=0 on a month of 100
 * locations (74,400 revisions) over HTTP, JSON parsed, side by side with a plain node-pg SELECT of
 * the same rows in revision order (the floor: no HTTP, no paging, no feed horizon); (b) the
 * long-poll latency from a writer's COMMIT to the consumer holding the revision, over a few
 * hundred commits made one at a time.
 * Knobs: BENCH_FEED_LOCATIONS (100), BENCH_FEED_DAYS (31), BENCH_FEED_LIMIT (1000 per page),
 * BENCH_FEED_COMMITS (300), BENCH_FEED_REPEATS (3).
 */

const SCHEMA = 'flet_montrg';
const number = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

export async function run(): Promise<BenchResult> {
  const locations = number('BENCH_FEED_LOCATIONS', 100);
  const days = number('BENCH_FEED_DAYS', 31);
  const limit = number('BENCH_FEED_LIMIT', 1000);
  const commits = number('BENCH_FEED_COMMITS', 300);
  const repeats = number('BENCH_FEED_REPEATS', 3);
  const database = await openBenchDatabase('bench_change_feed');
  const { db, pool, url } = database;
  try {
    const start = new Date(Date.UTC(2024, 0, 1));
    const end = new Date(start.getTime() + days * 86_400_000);
    for (let index = 1; index <= locations; index += 1) {
      const locId = `L-${String(index).padStart(3, '0')}`;
      await sql`
        INSERT INTO temperature (loc_id, bucket, ymd, hh, temperature_min, temperature_max, temperature_avg, temperature_count,
                                 humidity_min, humidity_max, humidity_avg, humidity_count, sample_count, expected_count, temperature_arrhenius_sum)
        SELECT ${locId}, b, to_char(b AT TIME ZONE 'UTC', 'YYYYMMDD'), to_char(b AT TIME ZONE 'UTC', 'HH24'),
               20 + 4 * sin(extract(epoch FROM b) / 43200.0), 21 + 4 * sin(extract(epoch FROM b) / 43200.0) + 0.5, 21 + 4 * sin(extract(epoch FROM b) / 43200.0), 360,
               45 + 10 * cos(extract(epoch FROM b) / 86400.0), 52 + 10 * cos(extract(epoch FROM b) / 86400.0), 50 + 10 * cos(extract(epoch FROM b) / 86400.0), 360,
               360, 360, 1e-12 * 360
        FROM generate_series(${start}::timestamptz, ${end}::timestamptz - interval '1 hour', interval '1 hour') AS b`.execute(db);
    }
    await sql`VACUUM ANALYZE temperature`.execute(db);
    const revisions = locations * days * 24;

    const app = await buildApp({ config: loadConfig({ API_RATE_LIMIT: '0' }), log: database.log, database: { db, pool, schema: SCHEMA } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      // (a) catch-up vs a plain SELECT in revision order, alternating.
      const catchUp = async (pageSize: number) => {
        const started = performance.now();
        let cursor = 0;
        let served = 0;
        for (;;) {
          const page = (await (await fetch(`${base}/v1/changes?after=${cursor}&limit=${pageSize}`)).json()) as { data: { revision: number }[]; next_after: number };
          if (page.data.length === 0) break;
          served += page.data.length;
          cursor = page.next_after;
        }
        if (served !== revisions) throw new Error(`the feed served ${served} entries, expected ${revisions}`);
        return performance.now() - started;
      };
      const feed: number[] = [];
      const bigPages: number[] = [];
      const plain: number[] = [];
      for (let repeat = 0; repeat < repeats; repeat += 1) {
        feed.push(await catchUp(limit));
        bigPages.push(await catchUp(10_000));
        const started = performance.now();
        const { rows } = await pool.query('SELECT * FROM temperature ORDER BY revision');
        plain.push(performance.now() - started);
        if (rows.length !== revisions) throw new Error(`the SELECT read ${rows.length} rows`);
      }
      const bestFeed = Math.min(...feed);
      const bestBig = Math.min(...bigPages);
      const bestPlain = Math.min(...plain);

      // (b) long-poll latency: one commit at a time, each waited for by a consumer long-polling.
      const writer = new pg.Client({ connectionString: url, options: `-c search_path=${SCHEMA}` });
      await writer.connect();
      const latencies: number[] = [];
      try {
        const head = (await (await fetch(`${base}/v1/changes?after=0&limit=1`)).json()) as { next_after: number };
        let cursor = (await pool.query<{ last: number }>('SELECT max(revision) AS last FROM temperature')).rows[0]?.last ?? head.next_after;
        for (let i = 0; i < commits; i += 1) {
          const waiting = fetch(`${base}/v1/changes?after=${cursor}&limit=10&wait=30s`).then(async (response) => {
            const page = (await response.json()) as { data: { revision: number }[]; next_after: number };
            return { page, at: performance.now() };
          });
          // Let the long-poll reach its wait (it answers at once if it reads after the commit).
          while (app.changes.waiters === 0) await new Promise((resolve) => setImmediate(resolve));
          await writer.query('BEGIN');
          const { rows } = await writer.query<{ revision: string }>(
            `UPDATE temperature SET temperature_max = temperature_max + 0.001 WHERE loc_id = 'L-001' AND bucket = $1 RETURNING revision`,
            [new Date(start.getTime() + (i % (days * 24)) * 3_600_000)],
          );
          const committing = performance.now();
          await writer.query('COMMIT');
          const { page, at } = await waiting;
          if (page.data[0]?.revision !== Number(rows[0]?.revision)) throw new Error(`expected revision ${rows[0]?.revision}, got ${JSON.stringify(page.data[0])}`);
          latencies.push(at - committing);
          cursor = page.next_after;
        }
      } finally {
        await writer.end();
      }
      const ms = (value: number) => `${value.toFixed(1)} ms`;
      const markdown = [
        'Command: `BENCH_ONLY=change-feed npm run bench` (or `node dist/bench/change-feed.js` after `npm run build`).',
        '',
        `${locations} locations × ${days} days = ${revisions.toLocaleString('en')} revisions; limit ${limit} per page; best of ${repeats}.`,
        '',
        '| what | time | rows/s |',
        '|---|---|---|',
        `| consumer catches up from after=0 over HTTP (\`GET /v1/changes\`, JSON parsed) | ${ms(bestFeed)} | ${Math.round(revisions / (bestFeed / 1000)).toLocaleString('en')} |`,
        `| the same with limit=10000 | ${ms(bestBig)} | ${Math.round(revisions / (bestBig / 1000)).toLocaleString('en')} |`,
        `| baseline: one plain \`SELECT * FROM temperature ORDER BY revision\` over node-pg | ${ms(bestPlain)} | ${Math.round(revisions / (bestPlain / 1000)).toLocaleString('en')} |`,
        '',
        `Feed / plain SELECT: **${(bestFeed / bestPlain).toFixed(2)}x** the time with limit=${limit}, **${(bestBig / bestPlain).toFixed(2)}x** with limit=10000 ` +
          `(runs: feed ${feed.map(ms).join(', ')}; limit=10000 ${bigPages.map(ms).join(', ')}; SELECT ${plain.map(ms).join(', ')}).`,
        '',
        `Long-poll, COMMIT to delivery over ${commits} commits (one at a time, consumer waiting with wait=30s): ` +
          `p50 **${ms(percentile(latencies, 50))}**, p99 **${ms(percentile(latencies, 99))}**, max ${ms(Math.max(...latencies))} (goal: within a second).`,
      ].join('\n');
      return { title: 'change feed', markdown };
    } finally {
      await app.close();
    }
  } finally {
    await database.close();
  }
}
