import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CachedPage, ContentCoding } from '../caching/response-cache.js';
import { preferredCoding } from './reply-format.js';

/** One page of a collection: `limit + 1` rows were fetched, so an extra row means a next page. */
export function pageOf<T>(rows: readonly T[], limit: number, cursorAfter: (last: T) => string): { data: T[]; next_cursor: string | null } {
  if (rows.length <= limit) return { data: [...rows], next_cursor: null };
  const data = rows.slice(0, limit);
  return { data, next_cursor: cursorAfter(data[data.length - 1]) };
}

/** A strong ETag over the exact bytes sent. */
export function etagOf(payload: string | Buffer): string {
  return `"${createHash('sha256').update(payload).digest('base64url').slice(0, 27)}"`;
}

/** `Link: <same request with cursor=...>; rel="next"` (RFC 8288), relative to the request. */
export function linkNext(request: FastifyRequest, reply: FastifyReply, nextCursor: string | null): void {
  if (nextCursor === null) return;
  const url = new URL(request.url, 'http://api.invalid');
  url.searchParams.set('cursor', nextCursor);
  reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
}

/**
 * Sends a JSON body. Responses that cover only complete past hours are cacheable: they get a
 * strong ETag over the serialised body and `Cache-Control`, and a matching If-None-Match gets
 * 304. Late readings can still change a past hour, so the ETag is over the content, and
 * clients revalidate after a minute. Anything else (it includes the current hour) is `no-cache`.
 */
export function sendJson(request: FastifyRequest, reply: FastifyReply, body: unknown, cacheable: boolean): FastifyReply {
  // Set first: routes that also serve CSV document a serializer per media type, picked by it.
  reply.header('content-type', 'application/json; charset=utf-8');
  if (!cacheable) return reply.header('cache-control', 'no-cache').send(body);
  // The route's compiled serializer of its JSON media type (reply.serialize would not pick one by media type).
  const serialize = reply.getSerializationFunction(String(reply.statusCode), 'application/json');
  return sendJsonText(request, reply, serialize ? serialize(body as Record<string, unknown>) : JSON.stringify(body), true);
}

/** `sendJson` for a body already serialised (JSON made by PostgreSQL). */
export function sendJsonText(request: FastifyRequest, reply: FastifyReply, payload: string | Buffer, cacheable: boolean, knownEtag?: string): FastifyReply {
  reply.header('content-type', 'application/json; charset=utf-8');
  if (!cacheable) return reply.header('cache-control', 'no-cache').send(payload);
  return sendValidated(request, reply, payload, knownEtag ?? etagOf(payload));
}

/**
 * Sends `payload` with `etag`, or a 304 when If-None-Match names it or one of `equivalent`: the
 * ETags of the same content in another content coding. A client that stored the page as it came
 * (uncompressed, because the compressed body was not ready yet) revalidates with that ETag and
 * still gets a 304, with the ETag it holds.
 */
function sendValidated(request: FastifyRequest, reply: FastifyReply, payload: Buffer | string, etag: string, equivalent: readonly string[] = []): FastifyReply {
  reply.header('etag', etag).header('cache-control', 'private, max-age=60');
  const match = request.headers['if-none-match'];
  if (typeof match === 'string') {
    const held = match
      .split(',')
      .map((candidate) => candidate.trim().replace(/^W\//, ''))
      .find((candidate) => candidate === '*' || candidate === etag || equivalent.includes(candidate));
    if (held !== undefined) {
      if (held !== '*') reply.header('etag', held);
      return reply.code(304).send();
    }
  }
  return reply.send(payload);
}

const CODINGS: readonly ContentCoding[] = ['br', 'gzip'];
/** The strong ETag of a page in a content coding: each coding is its own representation (RFC 9110 8.8.3). */
const codedEtag = (etag: string, coding: ContentCoding) => `${etag.slice(0, -1)}-${coding}"`;

/** A kept page, brotli- or gzip-compressed when the client accepts it and the compressed body is ready. */
export function sendCachedPage(request: FastifyRequest, reply: FastifyReply, page: CachedPage, encodedAs: (coding: ContentCoding) => Buffer | undefined): FastifyReply {
  if (page.link) reply.header('link', page.link);
  reply.header('content-type', 'application/json; charset=utf-8').header('vary', 'accept-encoding');
  const equivalent = [page.etag, ...CODINGS.map((coding) => codedEtag(page.etag, coding))];
  const coding = preferredCoding(request);
  const encoded = coding === undefined ? undefined : encodedAs(coding);
  if (coding === undefined || encoded === undefined) return sendValidated(request, reply, page.payload, page.etag, equivalent);
  reply.header('content-encoding', coding);
  return sendValidated(request, reply, encoded, codedEtag(page.etag, coding), equivalent);
}
