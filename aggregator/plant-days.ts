import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/index.js';
import { errors } from '../runtime/errors.js';

/**
 * Calendar days of the plant (PLANT_TIMEZONE) as ranges of absolute hours. A day covers the
 * hours whose start lies in [local midnight, next local midnight): 23, 24 or 25 hours across DST,
 * and whole UTC hours even in zones offset by half an hour (the hour is the contract's unit).
 */
export interface PlantDay {
  /** YYYY-MM-DD */
  readonly day: string;
  /** First hour start of the day (inclusive). */
  readonly from: Date;
  /** First hour start of the next day (exclusive). */
  readonly to: Date;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Validates a `--start`/`--end` value; a usage error (exit 2) names the flag. */
export function parseDayFlag(flag: string, text: string | undefined): string {
  if (text === undefined) throw errors.usage(`--${flag} YYYY-MM-DD is required`);
  const match = DAY.exec(text);
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : undefined;
  if (!date || date.toISOString().slice(0, 10) !== text || date.getUTCFullYear() < 1970) {
    throw errors.usage(`--${flag}: expected a date YYYY-MM-DD, got ${JSON.stringify(text)}`);
  }
  return text;
}

export function parseDayRange(start: string | undefined, end: string | undefined): { start: string; end: string } {
  const range = { start: parseDayFlag('start', start), end: parseDayFlag('end', end) };
  if (range.start > range.end) throw errors.usage(`--start ${range.start} is after --end ${range.end}`);
  return range;
}

/** The days from `start` to `end`, both inclusive, with their hour ranges, computed by PostgreSQL's time zone rules. */
export async function planDays(db: Kysely<Database>, timezone: string, start: string, end: string): Promise<PlantDay[]> {
  // ceil to the hour: the first hour start at or after local midnight.
  const { rows } = await sql<PlantDay>`
    WITH days AS (
      SELECT d AS local_midnight FROM generate_series(${start}::timestamp, ${end}::timestamp + interval '1 day', interval '1 day') AS d
    ),
    bounds AS (
      SELECT local_midnight, reading_hour((local_midnight AT TIME ZONE ${timezone}) - interval '1 microsecond') + interval '1 hour' AS hour_start
      FROM days
    )
    SELECT to_char(local_midnight, 'YYYY-MM-DD') AS day, hour_start AS "from",
           lead(hour_start) OVER (ORDER BY local_midnight) AS "to"
    FROM bounds ORDER BY local_midnight`.execute(db);
  return rows.slice(0, -1);
}
