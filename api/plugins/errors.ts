import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { apiErrors } from '../problems/api-errors.js';
import { sendProblem } from '../problems/problem-reply.js';

/** The one error handler and the one not-found handler: every 4xx and 5xx is problem+json. */
async function errors(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, apiErrors.routeNotFound(request.method, request.url.split('?')[0] ?? '')));
  return Promise.resolve();
}

export default fp(errors, { name: 'errors', fastify: '5.x' });
