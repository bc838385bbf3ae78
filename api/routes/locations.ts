import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { apiErrors } from '../problems/api-errors.js';
import { pageOf, linkNext, sendJson } from '../replies/json-reply.js';
import { LocationSaveRefused, findLocation, listLocations, saveLocation, thresholdProblems, type SavedLocation } from '../queries/locations.js';
import { Location, LocationInput, LocId, ThresholdVersion, collection, pageQuery, problemResponses } from '../schemas.js';
import { plantPrefixProblem, thresholdHistory, thresholdsInForce } from '../../db/index.js';
import { bearerSecurity } from './security.js';

const LocationParams = Type.Object({ locId: LocId });

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/locations',
    {
      schema: {
        tags: ['locations'],
        summary: 'List locations',
        operationId: 'listLocations',
        description: 'Every location with a master row, plus loc_ids that have readings, hourly rows or devices but no master row (registered: false). Ordered by loc_id.',
        security: bearerSecurity,
        querystring: Type.Object({ ...pageQuery }),
        response: { 200: collection(Location, 'Locations'), ...problemResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const limit = request.query.limit ?? 1000;
      const scope = 'locations';
      const after = request.query.cursor !== undefined ? app.settings.cursors.decode(scope, request.query.cursor) : undefined;
      const rows = await listLocations(app.db, { after: after === undefined ? undefined : String(after[0]), limit: limit + 1 });
      const page = pageOf(rows, limit, (last) => app.settings.cursors.encode(scope, [last.loc_id]));
      linkNext(request, reply, page.next_cursor);
      return sendJson(request, reply, page, false);
    },
  );

  app.get(
    '/locations/:locId',
    {
      schema: {
        tags: ['locations'],
        summary: 'One location',
        operationId: 'getLocation',
        security: bearerSecurity,
        params: LocationParams,
        response: { 200: Location, ...problemResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const location = await findLocation(app.db, request.params.locId);
      if (!location) throw apiErrors.locationNotFound(request.params.locId);
      return sendJson(request, reply, location, false);
    },
  );

  app.get(
    '/locations/:locId/thresholds',
    {
      schema: {
        tags: ['locations'],
        summary: 'Every threshold version of a location',
        operationId: 'listLocationThresholds',
        description:
          'Versions in the order they were recorded (never changed or removed). The version in force at an instant is the one with the latest valid_from at or before it; ' +
          'of equal valid_from, the one recorded last. Never paged (next_cursor is null).',
        security: bearerSecurity,
        params: LocationParams,
        response: { 200: collection(ThresholdVersion, 'Threshold versions'), ...problemResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const { locId } = request.params;
      if (!(await findLocation(app.db, locId))) throw apiErrors.locationNotFound(locId);
      const [versions, current] = await Promise.all([thresholdHistory(app.db, locId), thresholdsInForce(app.db, locId, app.settings.now())]);
      // node-postgres reads -infinity (the limits on record before versioning) as a number, not a Date.
      const validFrom = (at: unknown) => (at instanceof Date && Number.isFinite(at.getTime()) ? at.toISOString() : '-infinity');
      const data = versions.map((version) => ({
        ...version,
        valid_from: validFrom(version.valid_from),
        recorded_at: version.recorded_at.toISOString(),
        in_force_now: version.version === current?.version,
      }));
      return sendJson(request, reply, { data, next_cursor: null }, false);
    },
  );

  app.put(
    '/locations/:locId',
    {
      schema: {
        tags: ['locations'],
        summary: 'Create or replace a location',
        operationId: 'putLocation',
        description:
          'Creates the master row or replaces it whole (fields left out become null, active true). Needs a key with write rights when API_KEYS is set. ' +
          'When `plant` is set, the location id must start with `<plant>-` (PA-01 in plant PA), so that plants can share a headquarters database; otherwise 400 naming `plant`.',
        security: bearerSecurity,
        params: LocationParams,
        body: LocationInput,
        response: { 200: Location, 201: Location, ...problemResponses(400, 401, 403, 415, 429) },
      },
      preHandler: app.requireWrite,
    },
    async (request, reply) => {
      const prefixProblem = plantPrefixProblem(request.params.locId, request.body.plant);
      if (prefixProblem) throw apiErrors.validation(`plant: ${prefixProblem}`, [{ name: 'plant', in: 'body', message: prefixProblem }]);
      const problems = thresholdProblems(request.body);
      if (problems.length > 0) {
        throw apiErrors.validation(
          problems.join('; '),
          problems.map((message) => ({ name: message.split(' ')[0] ?? 'body', in: 'body', message })),
        );
      }
      const actor = request.caller?.keyId ?? 'anonymous';
      let saved: SavedLocation;
      try {
        saved = await app.db.transaction().execute((trx) => saveLocation(trx, request.params.locId, request.body, { actor, now: app.settings.now() }));
      } catch (error) {
        if (error instanceof LocationSaveRefused) throw apiErrors.validation(error.message, [{ name: error.field, in: 'body', message: error.message }]);
        throw error;
      }
      const { location, created } = saved;
      request.log.info({ loc_id: location.loc_id, created, threshold_version: saved.thresholdVersion }, 'location saved');
      return reply.code(created ? 201 : 200).header('cache-control', 'no-store').send(location);
    },
  );
  done();
};

export default routes;
