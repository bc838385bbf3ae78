import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';

export const runCommand = defineCommand({
  name: 'run',
  summary: 'Aggregate dirty hours on a schedule (AGGREGATOR_CRON).',
  usage: 'aggregator run',
  options: {},
  optionHelp: {},
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'PLANT_TIMEZONE', 'AGGREGATOR_CRON', 'AGGREGATOR_METRICS_PORT', 'LOG_LEVEL'],
  run() {
    return Promise.reject(errors.usage('the aggregator is not built yet (issue: Aggregator)'));
  },
});

export const aggregatorCommands = [runCommand];
