import fp from 'fastify-plugin';
import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { apiErrors } from '../problems/api-errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for /v1/*: API_RATE_LIMIT requests per minute per key or client; undefined when 0 (off). */
    v1RateLimit: onRequestAsyncHookHandler | undefined;
  }
}

/**
 * @fastify/rate-limit, applied by the /v1 scope only (health, readiness, metrics and docs are
 * never limited). A caller with a valid key is counted per key, anyone else per client address.
 */
async function rateLimitPlugin(app: FastifyInstance): Promise<void> {
  const max = app.settings.rateLimitPerMinute;
  if (max === 0) {
    app.decorate('v1RateLimit', undefined);
    return;
  }
  // The in-memory store is an LRU of at most `cache` keys (one small counter each): bounded
  // however many clients or keys call.
  await app.register(rateLimit, { global: false, cache: 10_000 });
  const hook = app.rateLimit({
    max,
    timeWindow: 60_000,
    keyGenerator: (request) => app.identifyCaller(request)?.keyId ?? `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      apiErrors.rateLimited(`more than ${context.max} requests per minute; retry in ${context.after}`),
  });
  app.decorate('v1RateLimit', hook);
}

export default fp(rateLimitPlugin, { name: 'rate-limit', fastify: '5.x', dependencies: ['settings', 'auth'] });
