import { apiErrors } from '../problems/api-errors.js';
import { localDate, startOfLocalDay } from './time-zones.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
// Years the database and JavaScript agree on, far beyond any reading.
const MIN_YEAR = 1970;
const MAX_YEAR = 9999;

function validDate(year: number, month: number, day: number): boolean {
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** An instant from a date (midnight in `zone`) or an ISO 8601 timestamp with an explicit offset. */
export function parseInstant(value: string, zone: string, name: string): Date {
  const date = DATE.exec(value);
  if (date) {
    const [year, month, day] = [Number(date[1]), Number(date[2]), Number(date[3])];
    if (!validDate(year, month, day)) throw apiErrors.badParameter(name, 'query', `${JSON.stringify(value)} is not a date between ${MIN_YEAR} and ${MAX_YEAR}`);
    return startOfLocalDay(year, month, day, zone);
  }
  const stamp = TIMESTAMP.exec(value);
  if (stamp) {
    const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((index) => Number(stamp[index] ?? 0)) as [number, number, number, number, number, number];
    const offset = stamp[7] ?? 'Z';
    const offsetOk = offset === 'Z' || (Number(offset.slice(1, 3)) <= 23 && Number(offset.slice(4, 6)) <= 59);
    const instant = Date.parse(value);
    if (validDate(year, month, day) && hour <= 23 && minute <= 59 && second <= 59 && offsetOk && Number.isFinite(instant)) return new Date(instant);
    throw apiErrors.badParameter(name, 'query', `${JSON.stringify(value)} is not a valid timestamp`);
  }
  throw apiErrors.badParameter(name, 'query', 'expected a date (YYYY-MM-DD) or an ISO 8601 timestamp with an offset (2024-01-01T06:00:00Z)');
}

export interface TimeRange {
  readonly from: Date;
  readonly to: Date;
}

export interface RangeRules {
  /** Length of the window when `from` is omitted. */
  readonly defaultWindowMs: number;
  readonly maxRangeMs: number;
  /** Rounds the default `to` (now) up to a boundary, so that default windows are whole hours/days. */
  readonly alignDefault: 'hour' | 'day';
}

/** The documented defaults: hourly and alarms cover the last 7 days by default, at most 366 days. */
export const HOURLY_RANGE: RangeRules = { defaultWindowMs: 7 * DAY_MS, maxRangeMs: 366 * DAY_MS, alignDefault: 'hour' };
/** Daily rollups cover the last 31 days by default, at most 3660 days (ten years). */
export const DAILY_RANGE: RangeRules = { defaultWindowMs: 31 * DAY_MS, maxRangeMs: 3660 * DAY_MS, alignDefault: 'day' };

function defaultEnd(now: Date, zone: string, align: RangeRules['alignDefault']): Date {
  if (align === 'hour') return new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS);
  const [year, month, day] = localDate(now, zone);
  return startOfLocalDay(year, month, day + 1, zone);
}

/**
 * `from` inclusive, `to` exclusive. Without `to` the window ends now (rounded up), or one default
 * window after `from`; without `from` it starts one default window before `to`.
 */
export function resolveRange(query: { from?: string; to?: string }, zone: string, now: Date, rules: RangeRules): TimeRange {
  const to = query.to !== undefined ? parseInstant(query.to, zone, 'to') : undefined;
  const from = query.from !== undefined ? parseInstant(query.from, zone, 'from') : undefined;
  const end = to ?? (from ? new Date(from.getTime() + rules.defaultWindowMs) : defaultEnd(now, zone, rules.alignDefault));
  const start = from ?? new Date(end.getTime() - rules.defaultWindowMs);
  if (start.getTime() >= end.getTime()) {
    throw apiErrors.badParameter(from ? 'from' : 'to', 'query', `the range is empty or reversed: from ${start.toISOString()} is not before to ${end.toISOString()}`);
  }
  if (end.getTime() - start.getTime() > rules.maxRangeMs) {
    throw apiErrors.badParameter('to', 'query', `the range is longer than the maximum of ${rules.maxRangeMs / DAY_MS} days; page through shorter ranges`);
  }
  return { from: start, to: end };
}

/** The start of the hour that contains `now`: hours before it are complete. */
export function currentHour(now: Date): Date {
  return new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS);
}
