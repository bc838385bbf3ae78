import closeWithGrace from 'close-with-grace';
import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';
import { componentLogger } from '../runtime/logger.js';
import { openDatabase } from '../db/database.js';
import type { Lifecycle } from '../runtime/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import { buildApp, type ApiApp } from './app.js';
import { API_SESSION_TIMEOUTS } from './plugins/database.js';
import { importLocations } from './commands/locations-import.js';

export const apiCommand = defineCommand({
  name: 'api',
  summary: 'Serve the HTTP API (HOST, PORT), its docs at /docs and the status page at /.',
  usage: 'plant-climate api',
  options: {},
  optionHelp: {},
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'PLANT_TIMEZONE', 'HOST', 'PORT', 'API_KEYS', 'API_RATE_LIMIT', 'API_CORS_ORIGINS', 'API_CURSOR_SECRET', 'LOG_LEVEL'],
  async run({ config, log, lifecycle }) {
    const database = await openDatabase({ config, log: componentLogger(log, 'api'), lifecycle, applicationName: 'plant-climate api', schema: 'check', sessionTimeouts: API_SESSION_TIMEOUTS });
    const app = await buildApp({ config, log, database });
    lifecycle.onShutdown('api', () => app.close());
    if (config.api.keys.length === 0 && !isLoopback(config.api.host)) {
      log.warn({ host: config.api.host }, `the API listens on ${config.api.host} without API_KEYS: anyone who can reach it reads every reading (writes are refused until API_KEYS holds a KEY:write)`);
    }
    const { host, port } = config.api;
    try {
      await app.listen({ host, port });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw errors.portInUse('the API', `${host}:${port}`, 'Set PORT to a free port, or stop the process that holds it.');
      }
      throw error;
    }
    const address = app.server.address();
    const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : `http://${host}:${port}`;
    process.stdout.write(`API listening on ${url} (docs: ${url}/docs, status page: ${url}/)\n`);
    await stopWithDeadline(app, lifecycle, log);
  },
});

/** Loopback only: 127.0.0.0/8, ::1 and localhost. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** In-flight requests get this long to finish once shutdown begins; then their connections are closed. */
const SHUTDOWN_GRACE_MS = 5_000;
/** The whole shutdown (requests, pool, embedded PostgreSQL) ends within this, or the process exits 1. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * As fastify/demo's server.ts: close-with-grace on SIGTERM, SIGINT (and an uncaught error):
 * stop accepting, cut streams (api/streams), give other requests a few seconds, close the pool,
 * and exit 0; past the deadline it exits 1 rather than hang. Never returns.
 */
function stopWithDeadline(app: ApiApp, lifecycle: Lifecycle, log: Logger): Promise<never> {
  return new Promise(() => {
    closeWithGrace(
      {
        delay: SHUTDOWN_DEADLINE_MS,
        logger: { error: (message: unknown) => log.error({ detail: message instanceof Error ? message.message : message }, 'shutdown did not finish in time') },
      },
      async ({ signal, err }) => {
        if (err) log.error({ err }, 'the API failed; shutting down');
        const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        try {
          await lifecycle.shutdown(signal ?? 'error');
        } finally {
          clearTimeout(force);
        }
      },
    );
  });
}

export const locationsCommand = defineCommand({
  name: 'locations',
  summary: 'Create or update location master data in bulk from a YAML file (same fields as PUT /v1/locations/{locId}).',
  usage: 'plant-climate locations import FILE.yaml',
  options: {},
  optionHelp: {},
  positionals: { min: 2, max: 2, names: 'import FILE.yaml' },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'LOG_LEVEL'],
  async run({ positionals, config, log, lifecycle }) {
    const [action, file = ''] = positionals;
    if (action !== 'import') throw errors.usage(`unknown action ${JSON.stringify(action)}; expected: plant-climate locations import FILE.yaml`);
    const database = await openDatabase({ config, log: componentLogger(log, 'locations'), lifecycle, applicationName: 'plant-climate locations', schema: 'check' });
    const { created, updated } = await importLocations(database.db, file);
    process.stdout.write(`${file}: ${created} location(s) created, ${updated} updated\n`);
  },
});

export const apiCommands = [apiCommand, locationsCommand];
