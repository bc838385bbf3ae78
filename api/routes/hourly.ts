import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { cursorRows } from '../../db/index.js';
import { apiErrors } from '../problems/api-errors.js';
import { etagOf, linkNext, sendCachedPage, sendJsonText } from '../replies/json-reply.js';
import { ResponseCache } from '../caching/response-cache.js';
import { SharedChecks } from '../caching/shared-checks.js';
import { versionSince, type CheckedVersion } from '../caching/snapshot-check.js';
import { sendCsv } from '../replies/csv-reply.js';
import { wantsCsv } from '../replies/reply-format.js';
import { HOURLY_COLUMNS, hourlyJsonPage, hourlyQuery, versionQuery, type HourlyRecord } from '../queries/hourly.js';
import { findLocation } from '../queries/locations.js';
import { HourlyRow, LocId, collection, formatQuery, jsonOrCsv, pageQuery, problemResponses, rangeQuery } from '../schemas.js';
import { HOURLY_RANGE, HOUR_MS, currentHour } from '../time/time-range.js';
import { locIdsOf, rangeOf, scopeOf } from './request-parameters.js';
import { bearerSecurity } from './security.js';

const hourlyQueryString = {
  ...rangeQuery,
  include_partial: Type.Optional(
    Type.Boolean({ default: false, description: 'Add the current, not yet complete hour, computed from raw readings now (partial: true)' }),
  ),
  gaps: Type.Optional(
    Type.String({
      enum: ['omit', 'include'],
      default: 'omit',
      description: 'include: an empty row (NULL values, sample_count 0) for every complete hour of the range that has no readings, per location',
    }),
  ),
  ...pageQuery,
  ...formatQuery,
};

const HOURLY_HELP =
  'Hourly rows ordered by bucket (then loc_id), `from` inclusive, `to` exclusive; default the last 7 days, at most 366 days. ' +
  '1000 rows a page unless `limit` says otherwise; `next_cursor` (and a Link header) leads to the next page. ' +
  'CSV (Accept: text/csv or format=csv) streams every row of the range in one response. ' +
  'Per metric: MIN, MAX, AVG and `*_count`, the readings where that metric was not NULL (a NULL count: the hour was aggregated before ' +
  'counts existed and its raw rows are gone). `coverage` = sample_count / expected_count, the readings the location’s devices should have ' +
  'produced from their poll intervals (NULL when unknown; the partial hour counts against the whole hour). `gaps=include` adds an empty row for each hour without readings.';

interface HourlyRequest {
  readonly from?: string;
  readonly to?: string;
  readonly include_partial?: boolean;
  readonly gaps?: string;
  readonly limit?: number;
  readonly cursor?: string;
  readonly format?: string;
}

function toRow(record: HourlyRecord, now: number): HourlyRow {
  // A stored row for an hour that has not ended yet is partial too.
  return { ...record, bucket: record.bucket.toISOString(), partial: record.partial || record.bucket.getTime() + HOUR_MS > now };
}

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  const cache = new ResponseCache();
  const versions = new SharedChecks<CheckedVersion>();
  async function serve(request: FastifyRequest, reply: FastifyReply, query: HourlyRequest, locIds: string[] | undefined, single: string | undefined) {
    const range = rangeOf(app, query, HOURLY_RANGE);
    const hour = currentHour(range.now);
    const partialHour = query.include_partial === true && hour >= range.from && hour < range.to ? hour : undefined;
    const gaps = query.gaps === 'include';
    const scope = scopeOf('hourly', [locIds ?? null, query.from ?? null, query.to ?? null, query.include_partial === true, gaps]);
    const position = query.cursor !== undefined ? app.settings.cursors.decode(scope, query.cursor) : undefined;
    const after = position ? { bucket: new Date(Number(position[0])), locId: String(position[1]) } : undefined;
    if (after && !Number.isFinite(after.bucket.getTime())) throw apiErrors.badParameter('cursor', 'query', 'not a cursor returned by this API');
    // Gaps up to the current hour: it is a gap only once it is over (or shown partial on request).
    const gapsBefore = gaps ? new Date(hour.getTime() + (partialHour ? HOUR_MS : 0)) : undefined;
    const spec = { locIds, from: range.from, to: range.to, after, partialHour, gapsBefore, timezone: app.settings.timezone };
    const now = range.now.getTime();

    if (wantsCsv(request, query.format)) {
      if (single !== undefined && !(await findLocation(app.db, single))) throw apiErrors.locationNotFound(single);
      return sendCsv(app.streams, request, reply, HOURLY_COLUMNS, () => cursorRows(app.dbPool, hourlyQuery(app.db, spec).compile()), (record: HourlyRecord) => ({ ...toRow(record, now), bucket: record.bucket }));
    }
    const limit = query.limit ?? 1000;
    // Complete past hours: a page already made from rows that have not changed is sent again.
    // Not with gaps: their empty rows carry the devices' expected_count, which the version does not cover.
    const cacheKey = range.past && !gaps ? JSON.stringify([scope, after?.bucket.getTime() ?? null, after?.locId ?? null, limit, range.from.getTime(), range.to.getTime()]) : undefined;
    // Checked only when a page is kept: a fresh page brings its own version, read with its rows.
    const kept = cacheKey !== undefined ? cache.peek(cacheKey) : undefined;
    const checked =
      cacheKey !== undefined && kept !== undefined
        ? await versions.run(cacheKey, () => versionSince(app.db, versionQuery(app.db, spec, limit), kept.snapshot !== undefined ? { version: kept.version, snapshot: kept.snapshot } : undefined))
        : undefined;
    const cached = cacheKey !== undefined && checked !== undefined ? cache.get(cacheKey, checked) : undefined;
    if (cached && cacheKey !== undefined) return sendCachedPage(request, reply, cached, (coding) => cache.encoded(cacheKey, cached, coding));
    const page = await hourlyJsonPage(app.db, spec, limit, range.now);
    // Only an empty answer costs the existence check, so a known location's hours take one query.
    if (page.json === '[]' && single !== undefined && !after && !(await findLocation(app.db, single))) throw apiErrors.locationNotFound(single);
    const nextCursor = page.last ? app.settings.cursors.encode(scope, [page.last.bucket.getTime(), page.last.locId]) : null;
    linkNext(request, reply, nextCursor);
    const payload = Buffer.from(`{"data":${page.json},"next_cursor":${JSON.stringify(nextCursor)}}`);
    const etag = etagOf(payload);
    if (cacheKey !== undefined) cache.set(cacheKey, { version: page.version, payload, etag, link: reply.getHeader('link') as string | undefined });
    if (range.past) reply.header('vary', 'accept-encoding');
    return sendJsonText(request, reply, payload, range.past, etag);
  }

  app.get(
    '/locations/:locId/hourly',
    {
      schema: {
        tags: ['readings'],
        summary: 'Hourly aggregates of one location',
        operationId: 'getLocationHourly',
        description: HOURLY_HELP,
        security: bearerSecurity,
        params: Type.Object({ locId: LocId }),
        querystring: Type.Object(hourlyQueryString),
        response: {
          200: jsonOrCsv(collection(HourlyRow, 'Hourly rows')),
          304: { type: 'null', description: 'Not modified (If-None-Match matched the ETag)' },
          ...problemResponses(400, 401, 404, 429),
        },
      },
    },
    (request, reply) => serve(request, reply, request.query, [request.params.locId], request.params.locId),
  );

  app.get(
    '/hourly',
    {
      schema: {
        tags: ['readings'],
        summary: 'Hourly aggregates of several locations',
        operationId: 'listHourly',
        description: `${HOURLY_HELP} Repeat loc_id for several locations (at most 500); leave it out for all.`,
        security: bearerSecurity,
        querystring: Type.Object({
          loc_id: Type.Optional(Type.Array(LocId, { maxItems: 500, description: 'Repeatable: ?loc_id=A-01&loc_id=A-02' })),
          ...hourlyQueryString,
        }),
        response: {
          200: jsonOrCsv(collection(HourlyRow, 'Hourly rows')),
          304: { type: 'null', description: 'Not modified (If-None-Match matched the ETag)' },
          ...problemResponses(400, 401, 429),
        },
      },
    },
    (request, reply) => serve(request, reply, request.query, locIdsOf(request.query.loc_id), undefined),
  );
  done();
};

export default routes;
