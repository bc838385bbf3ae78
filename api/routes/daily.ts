import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { cursorRows } from '../../db/index.js';
import { apiErrors } from '../problems/api-errors.js';
import { pageOf, linkNext, sendJson } from '../replies/json-reply.js';
import { sendCsv } from '../replies/csv-reply.js';
import { wantsCsv } from '../replies/reply-format.js';
import { DAILY_COLUMNS, dailyQuery, type DailyRecord } from '../queries/daily.js';
import { findLocation } from '../queries/locations.js';
import { DailyRow, LocId, collection, formatQuery, jsonOrCsv, pageQuery, problemResponses, rangeQuery } from '../schemas.js';
import { DAILY_RANGE } from '../time/time-range.js';
import { canonicalZone, startOfLocalDay } from '../time/time-zones.js';
import { rangeOf, scopeOf } from './request-parameters.js';
import { bearerSecurity } from './security.js';

function toRow(record: DailyRecord): DailyRow {
  return { ...record, start: record.start.toISOString() };
}

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/locations/:locId/daily',
    {
      schema: {
        tags: ['readings'],
        summary: 'Daily rollups of one location',
        operationId: 'getLocationDaily',
        description:
          'Days in PLANT_TIMEZONE or `tz`, derived from the hourly table: MIN/MAX are the MIN/MAX of the hours, each AVG the hours’ averages weighted by ' +
          'that metric’s own count (so it equals the AVG of the day’s raw readings), counts the sums. A day holds the hours that start on that local date ' +
          '(23 or 25 across DST changes). `coverage` is sample_count / expected_count, where expected_count counts every complete hour of the day, ' +
          'hours without readings included. A NULL `*_count` / `*_min` means an hour of the day was aggregated before per-metric counts existed and ' +
          'its raw rows are gone (raw retention). Default the last 31 days, at most 3660.',
        security: bearerSecurity,
        params: Type.Object({ locId: LocId }),
        querystring: Type.Object({
          ...rangeQuery,
          tz: Type.Optional(Type.String({ maxLength: 64, description: 'IANA time zone of the days (default PLANT_TIMEZONE)', examples: ['Europe/Berlin'] })),
          ...pageQuery,
          ...formatQuery,
        }),
        response: {
          200: jsonOrCsv(collection(DailyRow, 'Daily rows')),
          304: { type: 'null', description: 'Not modified' },
          ...problemResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const { locId } = request.params;
      const query = request.query;
      // By its canonical name: any capitalisation Intl accepts is one zone (one cache entry, one cursor scope).
      const zone = canonicalZone(query.tz ?? app.settings.timezone);
      if (zone === undefined) throw apiErrors.badParameter('tz', 'query', `${JSON.stringify(query.tz)} is not an IANA time zone`);
      const range = rangeOf(app, query, DAILY_RANGE, zone);
      const scope = scopeOf('daily', [locId, query.from ?? null, query.to ?? null, zone]);
      // The cursor holds the local date after the last day sent; the next page starts at its midnight.
      const position = query.cursor !== undefined ? app.settings.cursors.decode(scope, query.cursor) : undefined;
      const resume = position ? String(position[0]) : undefined;
      const match = resume ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(resume) : null;
      if (resume && !match) throw apiErrors.badParameter('cursor', 'query', 'not a cursor returned by this API');
      const from = match ? new Date(Math.max(range.from.getTime(), startOfLocalDay(Number(match[1]), Number(match[2]), Number(match[3]) + 1, zone).getTime())) : range.from;
      const spec = { locId, from, to: new Date(Math.max(from.getTime(), range.to.getTime())), timezone: zone, now: range.now };

      if (wantsCsv(request, query.format)) {
        if (!(await findLocation(app.db, locId))) throw apiErrors.locationNotFound(locId);
        return sendCsv(app.streams, request, reply, DAILY_COLUMNS, () => cursorRows(app.dbPool, dailyQuery(app.db, spec).compile(), 500), (record: DailyRecord) => ({ ...record }));
      }
      const limit = query.limit ?? 1000;
      const records = await dailyQuery(app.db, spec).limit(limit + 1).execute();
      if (records.length === 0 && !position && !(await findLocation(app.db, locId))) throw apiErrors.locationNotFound(locId);
      const page = pageOf(records, limit, (last) => app.settings.cursors.encode(scope, [last.day]));
      linkNext(request, reply, page.next_cursor);
      return sendJson(request, reply, { data: page.data.map(toRow), next_cursor: page.next_cursor }, range.past);
    },
  );
  done();
};

export default routes;
