import Negotiator from 'negotiator';
import type { FastifyRequest } from 'fastify';

const MEDIA_TYPES = ['application/json', 'text/csv'];

/**
 * True when the client asked for CSV: `format=csv`, or an Accept header that prefers text/csv to
 * JSON by its q-values (RFC 9110 12.5.1; `application/json, text/csv;q=0.1` is JSON). `format`
 * wins over Accept; no Accept, `*\/*` or only other types give JSON.
 */
export function wantsCsv(request: FastifyRequest, format: string | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  const accept = request.headers.accept;
  if (accept === undefined) return false;
  return new Negotiator({ headers: { accept } }).mediaType(MEDIA_TYPES) === 'text/csv';
}

const CODINGS = ['br', 'gzip', 'identity'];

/** The content coding the client prefers among brotli, gzip and none (Accept-Encoding with q-values). */
export function preferredCoding(request: FastifyRequest): 'br' | 'gzip' | undefined {
  const acceptEncoding = request.headers['accept-encoding'];
  if (acceptEncoding === undefined) return undefined;
  // At equal q-values (browsers send `gzip, deflate, br`), the smaller brotli body wins.
  // negotiator 1.x takes the server's preference as a second argument; @types/negotiator predates it.
  const negotiator = new Negotiator({ headers: { 'accept-encoding': acceptEncoding } }) as Negotiator & {
    encoding(available: readonly string[], options: { readonly preferred: readonly string[] }): string | undefined;
  };
  const coding = negotiator.encoding(CODINGS, { preferred: CODINGS });
  return coding === 'br' || coding === 'gzip' ? coding : undefined;
}
