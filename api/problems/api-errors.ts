/**
 * The API's error catalogue, after fastify's `lib/errors.js`: every error a route raises on
 * purpose is made here, with its HTTP status and RFC 9457 `type`, so that one error handler
 * (plugins/errors.ts) can turn any of them into `application/problem+json`.
 */
export const PROBLEM_BASE = 'https://plant-climate.invalid/problems/';

export interface ProblemField {
  /** The parameter or body field that was wrong (`from`, `loc_id`, `body.temperature_max`). */
  readonly name: string;
  readonly in: 'query' | 'path' | 'header' | 'body';
  readonly message: string;
}

export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly title: string;
  readonly fields: readonly ProblemField[] | undefined;
  /** Seconds for a Retry-After header (503). */
  retryAfter: number | undefined;

  constructor(code: string, statusCode: number, title: string, detail: string, fields?: readonly ProblemField[]) {
    super(detail);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = statusCode;
    this.title = title;
    this.fields = fields;
  }

  get type(): string {
    return `${PROBLEM_BASE}${this.code.toLowerCase().replaceAll('_', '-')}`;
  }
}

type Factory<A extends unknown[]> = ((...args: A) => ApiError) & { readonly code: string; readonly statusCode: number };

function defineApiError<A extends unknown[]>(code: string, statusCode: number, title: string, detail: (...args: A) => string, fields?: (...args: A) => ProblemField[]): Factory<A> {
  return Object.assign((...args: A) => new ApiError(code, statusCode, title, detail(...args), fields?.(...args)), { code, statusCode });
}

export const apiErrors = {
  badParameter: defineApiError(
    'BAD_PARAMETER',
    400,
    'Invalid parameter',
    (name: string, _where: ProblemField['in'], message: string) => `${name}: ${message}`,
    (name, where, message) => [{ name, in: where, message }],
  ),
  validation: defineApiError('VALIDATION', 400, 'Invalid request', (detail: string, _fields: ProblemField[]) => detail, (_detail, fields) => fields),
  badRequest: defineApiError('BAD_REQUEST', 400, 'Bad request', (detail: string) => detail),
  unauthorized: defineApiError('UNAUTHORIZED', 401, 'Authentication required', (detail: string) => detail),
  forbidden: defineApiError('FORBIDDEN', 403, 'Not allowed', (detail: string) => detail),
  writesDisabled: defineApiError(
    'WRITES_DISABLED',
    403,
    'Writes are turned off',
    () =>
      'this server has no API_KEYS, so it accepts no writes from anyone; to enable them, start it with API_KEYS=<key of 16+ characters>:write ' +
      '(comma-separate several; keys without :write only read) and send Authorization: Bearer <key>',
  ),
  locationNotFound: defineApiError('LOCATION_NOT_FOUND', 404, 'Unknown location', (locId: string) => `no location ${JSON.stringify(locId)}: it has no master row, readings, hourly rows or devices`),
  notAtHeadquarters: defineApiError('NOT_AT_HEADQUARTERS', 404, 'Not served at headquarters', (detail: string) => detail),
  noReadings: defineApiError('NO_READINGS', 404, 'No readings', (locId: string) => `location ${JSON.stringify(locId)} has no raw readings`),
  routeNotFound: defineApiError('NOT_FOUND', 404, 'Not found', (method: string, url: string) => `no route ${method} ${url}`),
  cursorTooOld: defineApiError('CURSOR_TOO_OLD', 410, 'Cursor too old', (detail: string) => detail),
  notComputable: defineApiError('NOT_COMPUTABLE', 422, 'No exact answer for this range', (detail: string) => detail),
  notAcceptable: defineApiError('NOT_ACCEPTABLE', 406, 'Not acceptable', (detail: string) => detail),
  rateLimited: defineApiError('RATE_LIMITED', 429, 'Too many requests', (detail: string) => detail),
  notReady: defineApiError('NOT_READY', 503, 'Not ready', (detail: string) => detail),
  unavailable: (detail: string, retryAfterSeconds: number) =>
    Object.assign(new ApiError('UNAVAILABLE', 503, 'Temporarily unavailable', detail), { retryAfter: retryAfterSeconds }),
  internal: defineApiError('INTERNAL', 500, 'Internal server error', () => 'the server failed to answer this request; the error is logged'),
};
