import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';

/**
 * One log line per request, without headers (so never a key): at debug level for the steady
 * traffic of dashboards and the status page, which would otherwise drown the pipeline's own logs,
 * at warn for client errors worth a look (auth, rate limit) and at error for 5xx.
 */
function requestLogPlugin(app: FastifyInstance, _options: unknown, done: () => void): void {
  app.addHook('onResponse', async (request, reply) => {
    const status = reply.statusCode;
    const level = status >= 500 ? 'error' : status === 401 || status === 403 || status === 429 ? 'warn' : 'debug';
    request.log[level](
      { method: request.method, url: request.url, route: request.routeOptions.url ?? 'unmatched', status, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request completed',
    );
  });
  done();
}

export default fp(requestLogPlugin, { name: 'request-log', fastify: '5.x' });
