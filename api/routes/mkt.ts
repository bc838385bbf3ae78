import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { MKT_DELTA_H } from '../../db/index.js';
import { apiErrors } from '../problems/api-errors.js';
import { sendJson } from '../replies/json-reply.js';
import { readFrozenBefore } from '../queries/frozen-horizon.js';
import { findLocation } from '../queries/locations.js';
import { meanKineticTemperature } from '../queries/mkt.js';
import { LocId, Mkt, problemResponses, rangeQuery } from '../schemas.js';
import { DAY_MS, type RangeRules } from '../time/time-range.js';
import { rangeOf } from './request-parameters.js';
import { bearerSecurity } from './security.js';
import { atHeadquartersNote } from '../plugins/headquarters.js';

/** The last 30 days by default (USP <1079.4> reports a 30-day MKT), at most ten years. */
const MKT_RANGE: RangeRules = { defaultWindowMs: 30 * DAY_MS, maxRangeMs: 3660 * DAY_MS, alignDefault: 'hour' };

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/locations/:locId/mkt',
    {
      schema: {
        tags: ['readings'],
        summary: 'Mean kinetic temperature of a location over a range',
        operationId: 'getLocationMkt',
        description:
          'Exact from the hourly Arrhenius sums for the default ΔH (83.144 kJ/mol), with raw readings for the parts of hours at the range’s edges and the current hour; ' +
          'any other delta_h is computed from raw readings (note says so). Default the last 30 days. ' +
          '422 when no exact answer exists: raw readings the computation needs were pruned, or an hour lacks its sum.' +
          atHeadquartersNote('raw'),
        security: bearerSecurity,
        params: Type.Object({ locId: LocId }),
        querystring: Type.Object({
          ...rangeQuery,
          delta_h: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: MKT_DELTA_H / 1000, description: 'Activation energy ΔH, kJ/mol (default 83.144)' })),
        }),
        response: { 200: Mkt, ...problemResponses(400, 401, 404, 422, 429) },
      },
      preHandler: app.plantOnly('raw'),
    },
    async (request, reply) => {
      const { locId } = request.params;
      if (!(await findLocation(app.db, locId))) throw apiErrors.locationNotFound(locId);
      const range = rangeOf(app, request.query, MKT_RANGE);
      const deltaHkJ = request.query.delta_h ?? MKT_DELTA_H / 1000;
      // In J/mol; the default exactly as stored (83.144 * 1000 is not exactly 83144 in binary).
      const deltaH = deltaHkJ === MKT_DELTA_H / 1000 ? MKT_DELTA_H : deltaHkJ * 1000;
      const result = await meanKineticTemperature(app.db, { locId, from: range.from, to: range.to, deltaH, now: range.now, frozenBefore: await readFrozenBefore(app.db) });
      if (result.incomplete !== undefined) throw apiErrors.notComputable(result.incomplete);
      const note =
        deltaH === MKT_DELTA_H ? null : `delta_h ${deltaHkJ} kJ/mol differs from the stored 83.144 kJ/mol: computed from ${result.readings} raw readings, not from the hourly sums`;
      return sendJson(
        request,
        reply,
        { loc_id: locId, from: range.from.toISOString(), to: range.to.toISOString(), mkt: result.mkt, delta_h: deltaHkJ, readings: result.readings, hours: result.hours, source: result.source, note },
        false,
      );
    },
  );
  done();
};

export default routes;
