import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';

export const apiCommand = defineCommand({
  name: 'api',
  summary: 'Serve the HTTP API (HOST, PORT).',
  usage: 'plant-climate api',
  options: {},
  optionHelp: {},
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'PLANT_TIMEZONE', 'HOST', 'PORT', 'API_KEYS', 'API_RATE_LIMIT', 'API_CORS_ORIGINS', 'LOG_LEVEL'],
  run() {
    return Promise.reject(errors.usage('the API is not built yet (issue: API)'));
  },
});

export const apiCommands = [apiCommand];
