import { sql } from 'kysely';
import { backfill } from '../aggregator/index.js';
import { clearDirtyMarks, copyReadings, envNumber, locIds, median, openBenchDatabase, timed, type BenchResult } from './bench-database.js';

/**
 * What the revision trigger of migration 0006 (revision, history, tombstones) costs the
 * aggregator: a backfill that writes every hour (an empty hourly table), one that rewrites every
 * hour (every row tampered first: an UPDATE and a history version each) and a re-run that changes
 * nothing (one primary-key probe per hour), each side by side with the trigger disabled.
 * Knobs: BENCH_TRIGGER_LOCATIONS (10), BENCH_TRIGGER_DAYS (7), BENCH_TRIGGER_REPEATS (3); readings every 10 s.
 */
export async function run(): Promise<BenchResult> {
  const locations = envNumber('BENCH_TRIGGER_LOCATIONS', 10);
  const days = envNumber('BENCH_TRIGGER_DAYS', 7);
  const repeats = envNumber('BENCH_TRIGGER_REPEATS', 3);
  const database = await openBenchDatabase('bench_revision_triggers');
  const { db, pool } = database;
  try {
    const from = new Date(Date.UTC(2024, 0, 1));
    const to = new Date(from.getTime() + days * 86_400_000);
    const raw = await copyReadings(pool, { locIds: locIds(locations), from, to, stepSeconds: 10 });
    await clearDirtyMarks(db);
    await sql`VACUUM ANALYZE temperature_raw`.execute(db);
    const end = new Date(to.getTime() - 86_400_000).toISOString().slice(0, 10);
    const backfillAll = () => backfill(db, { timezone: 'UTC', start: '2024-01-01', end });
    const trigger = (on: boolean) =>
      sql`ALTER TABLE temperature ${sql.raw(on ? 'ENABLE' : 'DISABLE')} TRIGGER temperature_revise, ${sql.raw(on ? 'ENABLE' : 'DISABLE')} TRIGGER temperature_refuse_placeholder_revision`.execute(db);
    // The "off" side writes rows without the trigger: defaults stand in for what it sets.
    await sql`ALTER TABLE temperature ALTER COLUMN revision SET DEFAULT 0, ALTER COLUMN change_cause SET DEFAULT 'bench'`.execute(db);
    const sides = { on: { insert: [] as number[], update: [] as number[], rerun: [] as number[] }, off: { insert: [] as number[], update: [] as number[], rerun: [] as number[] } };
    let hours = 0;
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      for (const side of repeat % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        await trigger(true);
        await sql`TRUNCATE temperature, temperature_history, temperature_tombstone`.execute(db);
        await trigger(side === 'on');
        const inserted = await timed(backfillAll);
        hours = inserted.value.written;
        sides[side].insert.push(inserted.ms);
        sides[side].rerun.push((await timed(backfillAll)).ms);
        // Tamper without the trigger (the tamper is not what is measured), then rewrite every hour.
        await trigger(false);
        await sql`UPDATE temperature SET temperature_avg = -1`.execute(db);
        await trigger(side === 'on');
        sides[side].update.push((await timed(backfillAll)).ms);
      }
    }
    await trigger(true);
    const ms = (values: number[]) => `${median(values).toFixed(0)} ms`;
    const ratio = (kind: 'insert' | 'update' | 'rerun') => (median(sides.on[kind]) / median(sides.off[kind])).toFixed(2);
    const markdown = [
      'Command: `BENCH_ONLY=aggregator-revision-triggers npm run bench`.',
      '',
      `${locations} locations × ${days} days, ${raw.rows.toLocaleString('en')} raw readings (every 10 s), ${hours.toLocaleString('en')} hours; medians of ${repeats}, sides alternated.`,
      '',
      '| backfill of every day | trigger on | trigger off | on / off |',
      '|---|---|---|---|',
      `| into an empty hourly table (every hour inserted, a revision each) | ${ms(sides.on.insert)} | ${ms(sides.off.insert)} | **${ratio('insert')}** |`,
      `| every hour tampered (every hour updated: a revision and a history version each) | ${ms(sides.on.update)} | ${ms(sides.off.update)} | **${ratio('update')}** |`,
      `| re-run, nothing changed (a primary-key probe per hour, no revision) | ${ms(sides.on.rerun)} | ${ms(sides.off.rerun)} | **${ratio('rerun')}** |`,
    ].join('\n');
    return { title: 'aggregator revision triggers', markdown };
  } finally {
    await database.close();
  }
}
