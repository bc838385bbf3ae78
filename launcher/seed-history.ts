import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * The first start is the one that finds no reading at all: only then is simulated history
 * seeded, so that a restart (or a start against a database that has real readings) never adds
 * made-up data, and the seed cannot be repeated.
 */
export async function isFirstStart(db: Kysely<Database>): Promise<boolean> {
  const row = await db.selectFrom('temperature_raw').select('loc_id').limit(1).executeTakeFirst();
  return row === undefined;
}

/** YYYY-MM-DD of an instant in a time zone, as `aggregator backfill` takes its days. */
export function dayIn(timeZone: string, at: Date): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

/** The days (both ends inclusive, in the plant's time zone) that a seed of `historyMs` up to `now` touches. */
export function seededDays(historyMs: number, now: Date, timeZone: string): { start: string; end: string } {
  return { start: dayIn(timeZone, new Date(now.getTime() - historyMs)), end: dayIn(timeZone, now) };
}
