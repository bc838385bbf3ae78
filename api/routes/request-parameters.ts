import type { FastifyInstance } from 'fastify';
import { apiErrors } from '../problems/api-errors.js';
import { currentHour, resolveRange, type RangeRules, type TimeRange } from '../time/time-range.js';

/** The range of a time-series request and whether its answer may be cached (complete past hours only). */
export function rangeOf(app: FastifyInstance, query: { from?: string; to?: string }, rules: RangeRules, zone = app.settings.timezone): TimeRange & { now: Date; past: boolean } {
  const now = app.settings.now();
  const range = resolveRange(query, zone, now, rules);
  return { ...range, now, past: range.to.getTime() <= currentHour(now).getTime() };
}

/** Repeatable `loc_id` (Fastify's parser gives a string for one, an array for several). */
export function locIdsOf(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const ids = [...new Set(Array.isArray(value) ? value : [value])];
  if (ids.length > 500) throw apiErrors.badParameter('loc_id', 'query', 'at most 500 loc_id values per request');
  return ids;
}

/** Cursor scope: a page cursor is only valid for the same route and parameters. */
export function scopeOf(route: string, parts: readonly unknown[]): string {
  return JSON.stringify([route, ...parts]);
}
