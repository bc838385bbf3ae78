import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { apiErrors } from '../problems/api-errors.js';
import { sendJson } from '../replies/json-reply.js';
import { latestReadings, type LatestRecord } from '../queries/latest.js';
import { allLocIds, findLocation } from '../queries/locations.js';
import { Latest, LocId, collection, problemResponses } from '../schemas.js';
import { locIdsOf } from './request-parameters.js';
import { bearerSecurity } from './security.js';
import { atHeadquartersNote } from '../plugins/headquarters.js';

function toLatest(record: LatestRecord): Latest {
  return { ...record, capture_dt: record.capture_dt.toISOString(), received_at: record.received_at.toISOString() };
}

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/locations/:locId/latest',
    {
      schema: {
        tags: ['readings'],
        summary: 'The newest raw reading of a location',
        operationId: 'getLocationLatest',
        description: `The newest row of the raw table for this location.${atHeadquartersNote('raw')}`,
        security: bearerSecurity,
        params: Type.Object({ locId: LocId }),
        response: { 200: Latest, ...problemResponses(400, 401, 404, 429) },
      },
      preHandler: app.plantOnly('raw'),
    },
    async (request, reply) => {
      const { locId } = request.params;
      const [record] = await latestReadings(app.db, [locId]);
      if (!record) throw (await findLocation(app.db, locId)) ? apiErrors.noReadings(locId) : apiErrors.locationNotFound(locId);
      return sendJson(request, reply, toLatest(record), false);
    },
  );

  app.get(
    '/latest',
    {
      schema: {
        tags: ['readings'],
        summary: 'The newest raw reading of several locations',
        operationId: 'listLatest',
        description: 'One row per location that has readings (all of them unless loc_id is given; repeatable). Locations without readings are left out. Never paged (next_cursor is null).' + atHeadquartersNote('raw'),
        security: bearerSecurity,
        querystring: Type.Object({ loc_id: Type.Optional(Type.Array(LocId, { maxItems: 500 })) }),
        response: { 200: collection(Latest, 'Latest readings'), ...problemResponses(400, 401, 404, 429) },
      },
      preHandler: app.plantOnly('raw'),
    },
    async (request, reply) => {
      const ids = locIdsOf(request.query.loc_id) ?? (await allLocIds(app.db));
      const records = await latestReadings(app.db, ids);
      return sendJson(request, reply, { data: records.map(toLatest), next_cursor: null }, false);
    },
  );
  done();
};

export default routes;
