import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Problem } from '../schemas.js';

export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  /** Left out of the document on purpose (the docs page's own assets, static files). */
  readonly hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    routeTable: readonly RouteEntry[];
  }
}

/**
 * The OpenAPI document, made from the routes' own TypeBox schemas, at /docs/json, and the
 * Swagger UI page at /docs. @fastify/swagger-ui serves its assets from node_modules; the
 * validator badge (the one thing that would call the internet) is off.
 */
async function openapi(app: FastifyInstance): Promise<void> {
  app.addSchema(Problem);
  // Every route the server has, so that a test can hold the document to it.
  const routes: RouteEntry[] = [];
  app.decorate('routeTable', routes);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routes.push({ method, url: route.url, hidden: route.schema?.hide === true });
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'plant-climate API',
        version: '1.0.0',
        license: { name: 'MIT', identifier: 'MIT' },
        description: [
          'Locations, devices, hourly and daily aggregates of factory-floor temperature and humidity.',
          '',
          'Collections are `{ "data": [...rows], "next_cursor": string | null }` (with a `Link: <...>; rel="next"` header when there is a next page).',
          'Times are ISO 8601 UTC; `ymd`/`hh` are plant-local (PLANT_TIMEZONE). Errors are RFC 9457 `application/problem+json`.',
          '`from`/`to` accept a date (midnight in PLANT_TIMEZONE) or an ISO 8601 timestamp with an offset; `from` is inclusive, `to` exclusive.',
          'Hourly routes and alarms default to the last 7 days and accept at most 366 days; daily rollups default to the last 31 days, at most 3660.',
          'When API_KEYS is set, /v1/* needs `Authorization: Bearer <key>`; PUT needs a key with write rights. Without API_KEYS, reads are open and every write answers 403.',
        ].join('\n'),
      },
      // Relative: resolved against wherever the document was fetched from, so generated clients
      // work behind any host, port or proxy prefix without configuration.
      servers: [{ url: '/', description: 'The server that serves this document' }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A key from API_KEYS (only when auth is on)' } },
      },
      tags: [
        { name: 'locations', description: 'Location master data' },
        { name: 'readings', description: 'Hourly, daily and latest readings' },
        { name: 'pipeline', description: 'Devices and pipeline health' },
        { name: 'audit', description: 'The append-only, hash-chained audit trail' },
        { name: 'service', description: 'Health, readiness and metrics' },
      ],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { validatorUrl: null, deepLinking: true, tryItOutEnabled: true, persistAuthorization: true },
    staticCSP: true,
  });
}

export default fp(openapi, { name: 'openapi', fastify: '5.x' });
