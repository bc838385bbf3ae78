import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { apiErrors } from '../problems/api-errors.js';

export interface Caller {
  /** Stable, secret-free id of the key (for rate limiting and logs), or undefined when auth is off. */
  readonly keyId: string | undefined;
  readonly canWrite: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The key a request presents, checked in constant time; `null` when it presents none or a wrong one. */
    identifyCaller: (request: FastifyRequest) => Caller | null;
    /** onRequest hook of /v1/*: 401 without a valid key when API_KEYS is set. */
    authenticate: (request: FastifyRequest) => Promise<void>;
    /** preHandler of writes: 403 unless the key has write rights (always 403 without API_KEYS). */
    requireWrite: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    caller: Caller | null | undefined;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer keys from API_KEYS. Keys are compared as SHA-256 digests with timingSafeEqual against
 * every configured key (no early exit), so neither the length nor the prefix of a key leaks
 * through timing; the key itself is never logged (runtime/logger.ts redacts the header too).
 */
async function auth(app: FastifyInstance): Promise<void> {
  const keys = app.settings.keys.map((key, index) => ({ digest: digest(key.key), canWrite: key.canWrite, keyId: `key-${index + 1}` }));
  const enabled = keys.length > 0;
  app.decorateRequest('caller', undefined);

  app.decorate('identifyCaller', (request: FastifyRequest): Caller | null => {
    if (request.caller !== undefined) return request.caller;
    let caller: Caller | null = null;
    // Without keys anyone may read (a plant network's dashboards), but nobody may write: an
    // anonymous PUT could silence a location's alarms.
    if (!enabled) caller = { keyId: undefined, canWrite: false };
    else {
      const header = request.headers.authorization;
      const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
      if (match?.[1]) {
        const presented = digest(match[1]);
        for (const key of keys) {
          if (timingSafeEqual(presented, key.digest) && caller === null) caller = { keyId: key.keyId, canWrite: key.canWrite };
        }
      }
    }
    request.caller = caller;
    return caller;
  });

  app.decorate('authenticate', (request: FastifyRequest): Promise<void> => {
    if (app.identifyCaller(request) !== null) return Promise.resolve();
    const presented = request.headers.authorization !== undefined;
    return Promise.reject(
      apiErrors.unauthorized(presented ? 'the Authorization header does not hold a valid API key' : 'send Authorization: Bearer <key> (API_KEYS is set on this server)'),
    );
  });

  app.decorate('requireWrite', (request: FastifyRequest): Promise<void> => {
    const caller = app.identifyCaller(request);
    if (caller?.canWrite) return Promise.resolve();
    if (!enabled) return Promise.reject(apiErrors.writesDisabled());
    return Promise.reject(apiErrors.forbidden('this API key may read but not write; writes need a key listed as KEY:write in API_KEYS'));
  });

  // The 401 says how to authenticate (RFC 6750).
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="plant-climate"');
    done(null, payload);
  });
  return Promise.resolve();
}

export default fp(auth, { name: 'auth', fastify: '5.x', dependencies: ['settings'] });
