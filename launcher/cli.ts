import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';

export const startCommand = defineCommand({
  name: 'start',
  summary: 'Run the whole pipeline: migrations, a simulated plant, a collector, the aggregator and the API.',
  usage: 'plant-climate start',
  options: {},
  optionHelp: {},
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'PLANT_TIMEZONE', 'HOST', 'PORT', 'LOG_LEVEL'],
  run() {
    return Promise.reject(
      errors.usage('npm start is not built yet: the collectors, aggregator and API land first. For now: npx plant-climate migrate'),
    );
  },
});
