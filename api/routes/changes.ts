import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { Gauge } from 'prom-client';
import { CursorTooOldError, readChangeHorizon, readChanges, type ChangePage as Page } from '../../db/index.js';
import { parseDuration } from '../../runtime/duration.js';
import { scrapeRead } from '../../runtime/scrape-read.js';
import { apiErrors } from '../problems/api-errors.js';
import { sendJsonText } from '../replies/json-reply.js';
import { ChangePage, problemResponses } from '../schemas.js';
import { atHeadquartersNote } from '../plugins/headquarters.js';
import { bearerSecurity } from './security.js';

/** The longest long-poll: under proxies' usual 60-120 s idle timeouts. */
export const MAX_WAIT_MS = 60_000;
/**
 * While the feed is held by an open writer, re-read this often: a writer that rolls back sends no
 * notification, and the feed must move on within a second of it.
 */
export const HELD_RECHECK_MS = 500;

const DESCRIPTION =
  'The change feed of the hourly table: every upsert (the whole row, with its `revision`) and deletion (a tombstone with its own revision) ' +
  'after `after`, in revision order; continue with `after=next_after`. Following it from `after=0` rebuilds the hourly table exactly. ' +
  'Never skips a revision: a revision is served only once no transaction that could still commit a lower one is open ' +
  '(a long-open writer holds the feed until it ends; the `Changes-Held-At` header then names the revision it is held at). ' +
  '`wait=30s` long-polls: with nothing new, the answer comes at the first commit (within about a second) or after the wait, possibly with no data. ' +
  'A cursor older than what HISTORY_RETENTION removed answers 410: restart from after=0.';

/** An AbortSignal that fires when the client goes away before the answer is sent. */
function clientGone(request: FastifyRequest, reply: FastifyReply): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort();
  };
  reply.raw.on('close', onClose);
  request.raw.socket.on('close', onClose);
  return {
    signal: controller.signal,
    release: () => {
      reply.raw.off('close', onClose);
      request.raw.socket.off('close', onClose);
    },
  };
}

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  new Gauge({
    name: 'plant_api_change_feed_waiters',
    help: 'Long-polls of GET /v1/changes waiting now (all share one LISTEN session)',
    registers: [app.metrics],
    collect() {
      this.set(app.changes.waiters);
    },
  });
  // Read at scrape time, not at each feed read: with no consumer reading (all stopped, or all
  // waiting on a feed held since before they came), a value set by the last read would hide an
  // open writer, or keep showing one that ended long ago. One horizon read (a pg_locks scan) per scrape.
  const horizon = scrapeRead(
    () => readChangeHorizon(app.db),
    (error) => app.log.warn({ err: error }, 'metrics: cannot read the change feed horizon'),
  );
  // > 0 with the safe revision standing still: an open writing transaction holds the feed
  // (consumers see nothing above it): the ChangeFeedHeld alert.
  new Gauge({
    name: 'plant_api_change_feed_held_revisions',
    help: 'Revisions drawn above what GET /v1/changes may serve now, because a transaction that drew a lower one is still open (0 when the database cannot be read)',
    registers: [app.metrics],
    async collect() {
      const now = await horizon();
      if (now) this.set(now.last - now.safe);
      else this.reset();
    },
  });
  new Gauge({
    name: 'plant_api_change_feed_safe_revision',
    help: 'The highest revision GET /v1/changes serves now: it stands still while an open writer holds the feed',
    registers: [app.metrics],
    async collect() {
      const now = await horizon();
      if (now) this.set(now.safe);
      else this.reset();
    },
  });
  app.get(
    '/changes',
    {
      schema: {
        tags: ['readings'],
        summary: 'Change feed of the hourly table (long-poll with wait)',
        operationId: 'listChanges',
        description: DESCRIPTION + atHeadquartersNote('changes'),
        security: bearerSecurity,
        querystring: Type.Object({
          after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'Serve revisions above this one (0: from the start)' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'Changes per answer (default 1000, at most 10000)' })),
          wait: Type.Optional(
            Type.String({
              pattern: '^(0|[0-9]{1,6}(ms|s|m))$',
              description: 'When nothing is new, wait up to this long (e.g. 30s, at most 60s) for a commit; 0 or absent answers at once',
            }),
          ),
        }),
        response: { 200: ChangePage, ...problemResponses(400, 401, 404, 410, 429) },
      },
      preHandler: app.plantOnly('changes'),
    },
    async (request, reply) => {
      const after = request.query.after ?? 0;
      const limit = request.query.limit ?? 1000;
      const waitMs = request.query.wait === undefined ? 0 : (parseDuration(request.query.wait) ?? 0);
      if (waitMs > MAX_WAIT_MS) throw apiErrors.badParameter('wait', 'query', `at most ${MAX_WAIT_MS / 1000}s, got ${JSON.stringify(request.query.wait)}`);
      const read = async (): Promise<Page> => {
        try {
          return await readChanges(app.db, { after, limit });
        } catch (error) {
          if (error instanceof CursorTooOldError) throw apiErrors.cursorTooOld(error.message);
          throw error;
        }
      };
      const deadline = Date.now() + waitMs;
      const gone = waitMs > 0 ? clientGone(request, reply) : undefined;
      try {
        for (;;) {
          const since = app.changes.generation;
          const page = await read();
          const remaining = deadline - Date.now();
          if (page.count > 0 || remaining <= 0 || !gone) return send(reply, request, page);
          // Held by an open writer, or no LISTEN session: a rollback (or a missed commit) wakes no one.
          const recheck = page.held || !app.changes.listening ? Math.min(HELD_RECHECK_MS, remaining) : remaining;
          const outcome = await app.changes.wait({ ms: recheck, since, signal: gone.signal });
          if (outcome === 'aborted' || outcome === 'closed') return send(reply, request, page);
        }
      } finally {
        gone?.release();
      }
    },
  );
  done();
};

function send(reply: FastifyReply, request: FastifyRequest, page: Page): FastifyReply {
  if (page.held) {
    reply.header('changes-held-at', String(page.horizon.safe));
    request.log.debug({ safe: page.horizon.safe, last: page.horizon.last, writers: page.horizon.writers }, 'change feed held by an open writer');
  }
  return sendJsonText(request, reply, `{"data":${page.json},"next_after":${page.nextAfter}}`, false);
}

export default routes;
