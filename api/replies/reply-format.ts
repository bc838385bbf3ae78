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
