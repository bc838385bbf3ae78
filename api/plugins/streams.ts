import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { StreamedReplies, type StreamLimits } from '../streams/streamed-reply.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Streamed (CSV) responses: bounded share of the pool, stall timeout, deadline, cut off on close. */
    streams: StreamedReplies;
  }
}

export interface StreamsPluginOptions {
  /** Connections in the API's pool; streams get half of them. */
  readonly poolSize: number;
  readonly limits?: StreamLimits;
}

async function streams(app: FastifyInstance, options: StreamsPluginOptions): Promise<void> {
  const replies = new StreamedReplies(options.poolSize, options.limits);
  app.decorate('streams', replies);
  // Before the server stops accepting and waits for open requests: a stream read slowly (or not
  // at all) would otherwise hold shutdown up for as long as its client likes.
  app.addHook('preClose', (done) => {
    replies.stopAll();
    done();
  });
  return Promise.resolve();
}

export default fp(streams, { name: 'streams', fastify: '5.x' });
