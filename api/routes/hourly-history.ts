import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { hourlyHistoryJson } from '../../db/index.js';
import { apiErrors } from '../problems/api-errors.js';
import { findLocation } from '../queries/locations.js';
import { sendJsonText } from '../replies/json-reply.js';
import { HourlyVersion, LocId, problemResponses } from '../schemas.js';
import { HOUR_MS } from '../time/time-range.js';
import { bearerSecurity } from './security.js';

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/locations/:locId/hourly/:bucket/history',
    {
      schema: {
        tags: ['readings'],
        summary: 'Every version of one hourly row',
        operationId: 'getHourlyHistory',
        description:
          'The current version of the hour (if it has a row) and every superseded one kept (HISTORY_RETENTION), newest first, each with the revision range ' +
          'in which it was current, what produced it (a scheduled run, late data, a threshold change, a backfill, verify --repair, a manual edit) and, ' +
          'for a backfill or a repair, its audit entry (GET /v1/audit). An hour that never had a row (or whose versions were all removed by retention) ' +
          'answers an empty list; an unknown location 404.',
        security: bearerSecurity,
        params: Type.Object({
          locId: LocId,
          bucket: Type.String({ maxLength: 64, description: 'Start of the hour, ISO 8601 with an offset (2024-01-01T06:00:00Z); must be a whole hour' }),
        }),
        response: {
          200: Type.Object({ data: Type.Array(HourlyVersion) }, { description: 'Versions, newest first' }),
          ...problemResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const { locId, bucket: text } = request.params;
      const bucket = new Date(text);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || !/(Z|[+-]\d{2}:?\d{2})$/.test(text) || !Number.isFinite(bucket.getTime())) {
        throw apiErrors.badParameter('bucket', 'path', `expected an ISO 8601 timestamp with an offset, such as 2024-01-01T06:00:00Z, got ${JSON.stringify(text)}`);
      }
      if (bucket.getTime() % HOUR_MS !== 0) throw apiErrors.badParameter('bucket', 'path', `not the start of an hour: ${JSON.stringify(text)}`);
      const history = await hourlyHistoryJson(app.db, locId, bucket);
      if (history.versions === 0 && !(await findLocation(app.db, locId))) throw apiErrors.locationNotFound(locId);
      return sendJsonText(request, reply, `{"data":${history.json}}`, false);
    },
  );
  done();
};

export default routes;
