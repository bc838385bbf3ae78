import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';
import { componentLogger } from '../runtime/logger.js';
import { openDatabase } from '../db/database.js';
import { buildApp } from './app.js';
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
    await lifecycle.untilSignalled();
  },
});

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
