import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from '../runtime/logger.js';
import { sendProblem } from './problems/problem-reply.js';
import settingsPlugin, { type SettingsOptions } from './plugins/settings.js';
import databasePlugin, { type ApiDatabase } from './plugins/database.js';
import streamsPlugin from './plugins/streams.js';
import changeListenerPlugin from './plugins/change-listener.js';
import type { StreamLimits } from './streams/streamed-reply.js';
import errorsPlugin from './plugins/errors.js';
import corsPlugin from './plugins/cors.js';
import metricsPlugin from './plugins/metrics.js';
import openapiPlugin from './plugins/openapi.js';
import authPlugin from './plugins/auth.js';
import headquartersPlugin from './plugins/headquarters.js';
import rateLimitPlugin from './plugins/rate-limit.js';
import requestLogPlugin from './plugins/request-log.js';
import healthRoutes from './routes/health.js';
import v1Routes from './routes/v1.js';
import statusPageRoutes from './routes/status-page.js';

export type { ApiDatabase };

export interface BuildAppOptions extends SettingsOptions {
  /** The process logger; the API logs through a child named `api`. */
  readonly log: Logger;
  /** Open connections; the caller owns them (closing the app does not close them). */
  readonly database: ApiDatabase;
  /** Limits of streamed (CSV) responses; defaults suit production. */
  readonly streams?: StreamLimits;
}

export type ApiApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/**
 * The whole API as a Fastify instance, ready but not listening: `plant-climate api` listens on
 * it, tests `inject` into it or listen on port 0. After fastify/demo: one plugin per concern,
 * each naming what it depends on, and the routes as plugins of their own.
 */
export async function buildApp(options: BuildAppOptions): Promise<ApiApp> {
  const logger: FastifyBaseLogger = options.log.child({ component: 'api' });
  const app = Fastify({
    loggerInstance: logger,
    // Requests are logged by the request-log plugin: method, route and status, never headers.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // A path parameter longer than this (a loc_id is at most 128 characters) is a 404, not work.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    trustProxy: false,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: true } },
    // Malformed URLs (bad percent-encoding) never reach a route; answer them as problem+json too.
    frameworkErrors: (error, request, reply) => {
      sendProblem(request, reply, Object.assign(error, { statusCode: 400 }));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(settingsPlugin, options);
  await app.register(databasePlugin, { database: options.database });
  await app.register(streamsPlugin, { poolSize: options.database.pool.options.max, limits: options.streams });
  await app.register(changeListenerPlugin);
  await app.register(errorsPlugin);
  await app.register(requestLogPlugin);
  // First of the route-adding plugins, so that its route table sees every route (CORS preflights too).
  await app.register(openapiPlugin);
  await app.register(corsPlugin);
  await app.register(metricsPlugin);
  await app.register(authPlugin);
  await app.register(headquartersPlugin);
  await app.register(rateLimitPlugin);
  await app.register(healthRoutes);
  await app.register(statusPageRoutes);
  await app.register(v1Routes, { prefix: '/v1' });
  await app.ready();
  return app;
}
