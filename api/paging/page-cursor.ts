import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { apiErrors } from '../problems/api-errors.js';

/**
 * Opaque page cursors: the position after the last row sent (a keyset, never an offset) and a
 * fingerprint of the query it belongs to, signed with HMAC-SHA256 so that a client can neither
 * forge a position nor reuse a cursor with other parameters. The secret is per process unless
 * given (API_CURSOR_SECRET), so by default cursors do not survive a restart (the client starts the listing again).
 */
export class CursorCodec {
  readonly #secret: Buffer;

  constructor(secret: Buffer = randomBytes(32)) {
    this.#secret = secret;
  }

  #sign(body: string): Buffer {
    return createHmac('sha256', this.#secret).update(body).digest();
  }

  encode(scope: string, position: readonly (string | number)[]): string {
    const body = Buffer.from(JSON.stringify({ s: this.#sign(scope).subarray(0, 8).toString('base64url'), p: position })).toString('base64url');
    return `${body}.${this.#sign(body).toString('base64url')}`;
  }

  /** The position, or a 400 naming `cursor` when the token was altered or belongs to another query. */
  decode(scope: string, token: string): (string | number)[] {
    const invalid = (why: string) => apiErrors.badParameter('cursor', 'query', why);
    const [body, signature, extra] = token.split('.');
    if (!body || !signature || extra !== undefined) throw invalid('not a cursor returned by this API');
    const expected = this.#sign(body);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('the cursor was altered or was issued by another server instance');
    const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { s?: unknown; p?: unknown };
    if (parsed.s !== this.#sign(scope).subarray(0, 8).toString('base64url')) throw invalid('the cursor belongs to a request with other parameters');
    if (!Array.isArray(parsed.p) || !parsed.p.every((part) => typeof part === 'string' || typeof part === 'number')) throw invalid('not a cursor returned by this API');
    return parsed.p;
  }
}
