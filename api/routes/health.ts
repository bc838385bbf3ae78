import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import Type from 'typebox';
import { assertSchemaCurrent } from '../../db/migrator.js';
import { apiErrors } from '../problems/api-errors.js';
import { problemResponses, textResponse } from '../schemas.js';

const READY_TIMEOUT_MS = 5_000;

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['service'],
        summary: 'The process is up',
        operationId: 'getHealth',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }), ...problemResponses('4xx') },
      },
    },
    async () => Promise.resolve({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['service'],
        summary: 'The database is reachable and its schema current',
        operationId: 'getReady',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ready') }), ...problemResponses('4xx', 503) },
      },
    },
    async (request) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          assertSchemaCurrent(app.db as unknown as Kysely<unknown>, app.dbSchema),
          new Promise((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer from the database within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
          }),
        ]);
      } catch (error) {
        request.log.warn({ err: error }, 'not ready');
        const schemaProblem = error instanceof Error && 'code' in error && error.code === 'PC_SCHEMA_OUT_OF_DATE';
        throw apiErrors.notReady(schemaProblem ? (error as Error).message : 'the database is not reachable');
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['service'],
        summary: 'Prometheus metrics (text exposition format)',
        operationId: 'getMetrics',
        security: [],
        response: { 200: textResponse('text/plain; version=0.0.4', 'Prometheus text exposition format'), ...problemResponses('4xx') },
      },
    },
    async (_request, reply) => {
      const text = await app.metrics.metrics();
      return reply.header('content-type', app.metrics.contentType).header('cache-control', 'no-store').send(text);
    },
  );
  done();
};

export default routes;
