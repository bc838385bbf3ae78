import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/**
 * Prometheus metrics on the API's own port: request duration and count by method, route (the
 * route pattern, never the raw URL, so ids do not explode the label set) and status. A registry
 * per app rather than prom-client's global one, so that several apps live in one test process.
 */
async function metrics(app: FastifyInstance): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'plant_api_' });
  const labelNames = ['method', 'route', 'status_code'] as const;
  const duration = new Histogram({
    name: 'plant_api_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const requests = new Counter({ name: 'plant_api_http_requests_total', help: 'HTTP requests by route and status', labelNames, registers: [registry] });
  app.decorate('metrics', registry);
  app.addHook('onResponse', (request, reply, done) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) };
    duration.observe(labels, reply.elapsedTime / 1000);
    requests.inc(labels);
    done();
  });
  return Promise.resolve();
}

export default fp(metrics, { name: 'metrics', fastify: '5.x' });
