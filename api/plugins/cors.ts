import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import cors from '@fastify/cors';

/** CORS for browser dashboards on other origins: API_CORS_ORIGINS, `*` for any; off when unset. */
async function corsPlugin(app: FastifyInstance): Promise<void> {
  const origins = app.settings.corsOrigins;
  await app.register(cors, {
    origin: origins.includes('*') ? '*' : origins.length > 0 ? [...origins] : false,
    methods: ['GET', 'HEAD', 'PUT', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Accept'],
    exposedHeaders: ['ETag', 'Link', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 600,
  });
}

export default fp(corsPlugin, { name: 'cors', fastify: '5.x', dependencies: ['settings'] });
