import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fastifyStatic from '@fastify/static';
import { staticRoot, uplotDist } from '../status-page/status-page-files.js';
import { problemResponses, textResponse } from '../schemas.js';

/**
 * The status page at `/`: static HTML, JS and CSS that read the public API like any client
 * (with a key from localStorage when API_KEYS is set). uPlot comes from node_modules, so the
 * page works on a network without internet.
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const root = staticRoot();
  const index = await readFile(path.join(root, 'index.html'), 'utf8');
  await app.register(fastifyStatic, { root, prefix: '/static/', decorateReply: false, index: false, schemaHide: true });
  await app.register(fastifyStatic, { root: uplotDist(), prefix: '/vendor/uplot/', decorateReply: false, index: false, schemaHide: true, allowedPath: (file) => /^\/uPlot\.(iife\.min\.js|min\.css)$/.test(file) });
  app.get(
    '/',
    {
      schema: {
        tags: ['service'],
        summary: 'Status page (HTML): latest readings, alarms, hourly chart, pipeline health',
        operationId: 'getStatusPage',
        security: [],
        response: { 200: textResponse('text/html', 'The status page'), ...problemResponses('4xx') },
      },
    },
    async (_request, reply) => reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-cache').send(index),
  );
};

export default routes;
