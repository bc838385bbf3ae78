import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { apiErrors } from '../problems/api-errors.js';
import { pageOf, linkNext, sendJson } from '../replies/json-reply.js';
import { sendCsv } from '../replies/csv-reply.js';
import { wantsCsv } from '../replies/reply-format.js';
import { ALARM_COLUMNS, alarmsQuery, type AlarmRecord } from '../queries/alarms.js';
import { Alarm, LocId, collection, formatQuery, jsonOrCsv, pageQuery, problemResponses, rangeQuery } from '../schemas.js';
import { HOURLY_RANGE } from '../time/time-range.js';
import { locIdsOf, rangeOf, scopeOf } from './request-parameters.js';
import { bearerSecurity } from './security.js';

function toAlarm(record: AlarmRecord): Alarm {
  const { k: _k, ...alarm } = record;
  return { ...alarm, bucket: record.bucket.toISOString() };
}

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/alarms',
    {
      schema: {
        tags: ['readings'],
        summary: 'Hours with readings beyond a location’s thresholds',
        operationId: 'listAlarms',
        description:
          'Every hour with readings strictly beyond a limit of the threshold version in force at each reading (the same definition as /excursions and the hourly *_above_count / *_below_count), ' +
          'with how many readings, the minutes they stand for and the largest excess. Inactive locations are left out. Ordered by bucket, loc_id. Default the last 7 days, at most 366.',
        security: bearerSecurity,
        querystring: Type.Object({
          loc_id: Type.Optional(Type.Array(LocId, { maxItems: 500, description: 'Repeatable; all locations when left out' })),
          ...rangeQuery,
          ...pageQuery,
          ...formatQuery,
        }),
        response: {
          200: jsonOrCsv(collection(Alarm, 'Alarms')),
          304: { type: 'null', description: 'Not modified' },
          ...problemResponses(400, 401, 429),
        },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const locIds = locIdsOf(query.loc_id);
      const range = rangeOf(app, query, HOURLY_RANGE);
      const scope = scopeOf('alarms', [locIds ?? null, query.from ?? null, query.to ?? null]);
      const position = query.cursor !== undefined ? app.settings.cursors.decode(scope, query.cursor) : undefined;
      const after = position ? { bucket: new Date(Number(position[0])), locId: String(position[1]), k: Number(position[2]) } : undefined;
      if (after && (!Number.isFinite(after.bucket.getTime()) || !Number.isInteger(after.k))) throw apiErrors.badParameter('cursor', 'query', 'not a cursor returned by this API');
      const spec = { locIds, from: range.from, to: range.to };

      if (wantsCsv(request, query.format)) {
        // Keyset pages of 1000 read one after the other: the whole range, never all in memory.
        const db = app.db;
        async function* all(): AsyncGenerator<AlarmRecord> {
          let cursor = after;
          for (;;) {
            const { rows } = await alarmsQuery({ ...spec, after: cursor, limit: 1000 }).execute(db);
            yield* rows;
            const last = rows[rows.length - 1];
            if (rows.length < 1000 || !last) return;
            cursor = { bucket: last.bucket, locId: last.loc_id, k: last.k };
          }
        }
        return sendCsv(app.streams, request, reply, ALARM_COLUMNS, all, (record: AlarmRecord) => ({ ...record }));
      }
      const limit = query.limit ?? 1000;
      const { rows } = await alarmsQuery({ ...spec, after, limit: limit + 1 }).execute(app.db);
      const page = pageOf(rows, limit, (last) => app.settings.cursors.encode(scope, [last.bucket.getTime(), last.loc_id, last.k]));
      linkNext(request, reply, page.next_cursor);
      return sendJson(request, reply, { data: page.data.map(toAlarm), next_cursor: page.next_cursor }, range.past);
    },
  );
  done();
};

export default routes;
