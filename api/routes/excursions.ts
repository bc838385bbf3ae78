import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { readFrozenBefore } from '../queries/frozen-horizon.js';
import { apiErrors } from '../problems/api-errors.js';
import { linkNext, pageOf, sendJson } from '../replies/json-reply.js';
import { excursionEvents, excursionSummary, expectedInterval, type ExcursionEvent } from '../queries/excursions.js';
import { findLocation } from '../queries/locations.js';
import { Excursions, LocId, pageQuery, problemResponses, rangeQuery } from '../schemas.js';
import { HOURLY_RANGE } from '../time/time-range.js';
import { rangeOf, scopeOf } from './request-parameters.js';
import { bearerSecurity } from './security.js';
import { atHeadquartersNote } from '../plugins/headquarters.js';

const toEvent = ({ k: _k, ...event }: ExcursionEvent) => ({ ...event, start: event.start.toISOString(), end: event.end.toISOString(), peak_at: event.peak_at.toISOString() });

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/locations/:locId/excursions',
    {
      schema: {
        tags: ['readings'],
        summary: 'Excursion events of a location and minutes out of limits',
        operationId: 'getLocationExcursions',
        description:
          'Runs of readings beyond the thresholds in force at each reading, from raw readings, ordered by start; and minutes out of limits per kind from the hourly counts. ' +
          'Default the last 7 days, at most 366. Where raw readings were pruned (RAW_RETENTION), events start at events_from.' +
          atHeadquartersNote('raw'),
        security: bearerSecurity,
        params: Type.Object({ locId: LocId }),
        querystring: Type.Object({ ...rangeQuery, ...pageQuery }),
        response: { 200: Excursions, ...problemResponses(400, 401, 404, 429) },
      },
      preHandler: app.plantOnly('raw'),
    },
    async (request, reply) => {
      const { locId } = request.params;
      const query = request.query;
      if (!(await findLocation(app.db, locId))) throw apiErrors.locationNotFound(locId);
      const range = rangeOf(app, query, HOURLY_RANGE);
      const scope = scopeOf('excursions', [locId, query.from ?? null, query.to ?? null]);
      const position = query.cursor !== undefined ? app.settings.cursors.decode(scope, query.cursor) : undefined;
      const after = position ? { start: new Date(Number(position[0])), k: Number(position[1]) } : undefined;
      if (after && (!Number.isFinite(after.start.getTime()) || !Number.isInteger(after.k))) throw apiErrors.badParameter('cursor', 'query', 'not a cursor returned by this API');
      const frozenBefore = await readFrozenBefore(app.db);
      const eventsFrom = frozenBefore && frozenBefore > range.from ? frozenBefore : range.from;
      const interval = await expectedInterval(app.db, locId, { from: eventsFrom, to: range.to });
      const limit = query.limit ?? 1000;
      const events =
        interval.intervalMs === null || eventsFrom >= range.to
          ? []
          : await excursionEvents(app.db, { locId, from: eventsFrom, to: range.to, intervalMs: interval.intervalMs, after, limit: limit + 1 });
      const page = pageOf(events, limit, (last) => app.settings.cursors.encode(scope, [last.start.getTime(), last.k]));
      linkNext(request, reply, page.next_cursor);
      const summary = await excursionSummary(app.db, { locId, from: range.from, to: range.to, intervalMs: interval.intervalMs });
      return sendJson(
        request,
        reply,
        {
          loc_id: locId,
          from: range.from.toISOString(),
          to: range.to.toISOString(),
          expected_interval_ms: interval.intervalMs,
          interval_source: interval.source,
          events_complete: eventsFrom.getTime() === range.from.getTime(),
          events_from: eventsFrom.toISOString(),
          summary,
          data: page.data.map(toEvent),
          next_cursor: page.next_cursor,
        },
        false,
      );
    },
  );
  done();
};

export default routes;
