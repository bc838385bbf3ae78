import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { listAudit } from '../../db/index.js';
import { apiErrors } from '../problems/api-errors.js';
import { linkNext, pageOf, sendJson } from '../replies/json-reply.js';
import { AuditEntry, collection, pageQuery, problemResponses } from '../schemas.js';
import { scopeOf } from './request-parameters.js';
import { bearerSecurity } from './security.js';
import { atHeadquartersNote } from '../plugins/headquarters.js';

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit log',
        operationId: 'listAudit',
        description:
          'Every location and threshold change, backfill, prune, verify --repair and dead-letter replay, oldest first, each entry hashing the previous one. ' +
          'Read with any key; never written through the API (entries are written by the changes they record). `plant-climate audit verify` checks the chain.' +
          atHeadquartersNote('audit'),
        security: bearerSecurity,
        querystring: Type.Object({ subject: Type.Optional(Type.String({ maxLength: 256, description: 'Only entries about this subject (a loc_id …)' })), ...pageQuery }),
        response: { 200: collection(AuditEntry, 'Audit entries'), ...problemResponses(400, 401, 404, 429) },
      },
      preHandler: app.plantOnly('audit'),
    },
    async (request, reply) => {
      const query = request.query;
      const limit = query.limit ?? 1000;
      const scope = scopeOf('audit', [query.subject ?? null]);
      const position = query.cursor !== undefined ? app.settings.cursors.decode(scope, query.cursor) : undefined;
      const after = position ? Number(position[0]) : undefined;
      if (after !== undefined && !Number.isInteger(after)) throw apiErrors.badParameter('cursor', 'query', 'not a cursor returned by this API');
      const rows = await listAudit(app.db, { after, limit: limit + 1, subject: query.subject });
      const page = pageOf(rows, limit, (last) => app.settings.cursors.encode(scope, [last.id]));
      linkNext(request, reply, page.next_cursor);
      return sendJson(request, reply, page, false);
    },
  );
  done();
};

export default routes;
