import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { ChangeListener } from '../notifications/change-listener.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The one LISTEN session of this process, shared by every long-poll of GET /v1/changes. */
    changes: ChangeListener;
  }
}

async function changeListener(app: FastifyInstance): Promise<void> {
  // The pool's own connection settings (URL, search_path, application name), for one more session.
  const { connectionString, host, port, user, password, database, ssl, options } = app.dbPool.options as pg.PoolConfig;
  const listener = new ChangeListener({ connection: { connectionString, host, port, user, password, database, ssl, options }, schema: app.dbSchema, log: app.log });
  app.decorate('changes', listener);
  // Before the server waits for open requests: a long-poll answers at once instead of holding
  // shutdown up for its whole wait.
  app.addHook('preClose', async () => {
    await listener.close();
  });
  return Promise.resolve();
}

export default fp(changeListener, { name: 'change-listener', fastify: '5.x', dependencies: ['database'] });
