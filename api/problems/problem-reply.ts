import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, apiErrors, PROBLEM_BASE, type ProblemField } from './api-errors.js';

/** The RFC 9457 body every 4xx and 5xx of the API carries. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: ProblemField[];
}

interface AjvError {
  readonly instancePath?: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
}

const CONTEXTS: Readonly<Record<string, ProblemField['in']>> = { querystring: 'query', params: 'path', headers: 'header', body: 'body' };

function validationFields(error: FastifyError): ProblemField[] {
  const where = CONTEXTS[error.validationContext ?? 'querystring'] ?? 'query';
  return (error.validation as readonly AjvError[] | undefined ?? []).map((issue) => {
    const path = (issue.instancePath ?? '').split('/').filter((part) => part !== '').join('.');
    const missing = typeof issue.params?.missingProperty === 'string' ? issue.params.missingProperty : undefined;
    const name = [path, missing].filter((part) => part !== undefined && part !== '').join('.') || (where === 'body' ? 'body' : where);
    return { name, in: where, message: issue.message ?? 'is invalid' };
  });
}

// PostgreSQL's "data exception" class: a value the database refuses (a NUL byte, a time zone it
// does not know). Only reachable with odd input, so it is the client's error, never a 5xx.
const PG_DATA_EXCEPTION = /^22[0-9A-Z]{3}$/;

/** Maps anything a request can throw to an `ApiError`; unknown failures become a detail-free 500. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const fastifyError = error as Partial<FastifyError> & { code?: string };
  if (fastifyError.validation) {
    const fields = validationFields(fastifyError as FastifyError);
    return apiErrors.validation(fields.map((field) => `${field.name}: ${field.message}`).join('; '), fields);
  }
  // Every pooled connection busy for connectionTimeoutMillis (db/pool.ts): overload, not a bug.
  if (error instanceof Error && error.message === 'timeout exceeded when trying to connect') {
    return apiErrors.unavailable('the database connections are all busy; retry shortly', 1);
  }
  // A statement cancelled by the API sessions' statement_timeout (API_SESSION_TIMEOUTS).
  if (fastifyError.code === '57014') return apiErrors.unavailable('the query took too long and was cancelled; ask for a shorter range', 5);
  if (typeof fastifyError.code === 'string' && PG_DATA_EXCEPTION.test(fastifyError.code)) {
    return apiErrors.badRequest('a parameter holds a value the database cannot use');
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own 4xx (bad JSON, unsupported media type, body too large) say what was wrong.
    return new ApiError(fastifyError.code ?? 'BAD_REQUEST', status, titleOf(status), fastifyError.message ?? 'bad request');
  }
  return apiErrors.internal();
}

function titleOf(status: number): string {
  switch (status) {
    case 404:
      return 'Not found';
    case 405:
      return 'Method not allowed';
    case 413:
      return 'Payload too large';
    case 415:
      return 'Unsupported media type';
    default:
      return 'Bad request';
  }
}

export function problemOf(error: ApiError, instance: string | undefined): Problem {
  const problem: Problem = { type: error.type, title: error.title, status: error.statusCode, detail: error.message };
  if (instance !== undefined) problem.instance = instance;
  if (error.fields && error.fields.length > 0) problem.errors = [...error.fields];
  return problem;
}

/** The path of the request without its query string: queries may carry cursors, never echoed back. */
function instanceOf(request: FastifyRequest): string | undefined {
  const url = request.raw.url ?? request.url;
  const path = url.split('?')[0] ?? '';
  return path.length > 0 && path.length <= 512 ? path : undefined;
}

/** Sends `error` as problem+json; 5xx are logged with their cause and answered without it. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, cause: unknown): FastifyReply {
  const error = toApiError(cause);
  if (error.statusCode >= 500) request.log.error({ err: cause }, 'request failed');
  else request.log.info({ code: error.code, status: error.statusCode }, 'request rejected');
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter));
  return reply
    .code(error.statusCode)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(problemOf(error, instanceOf(request)));
}

export { PROBLEM_BASE };
