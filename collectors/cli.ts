import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';

export const collectCommand = defineCommand({
  name: undefined,
  summary: 'Poll the devices of a gateway config over Modbus TCP into temperature_raw.',
  usage: 'collector --config FILE [--check]',
  options: { config: { type: 'string', short: 'c' }, check: { type: 'boolean' } },
  optionHelp: { config: 'the gateway config (YAML)', check: 'validate the config and exit without polling' },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'COLLECTOR_METRICS_PORT', 'LOG_LEVEL'],
  run() {
    return Promise.reject(errors.usage('the collector is not built yet (issue: Collectors)'));
  },
});

export const simulateCommand = defineCommand({
  name: 'simulate',
  summary: 'Serve simulated temperature/humidity transmitters over Modbus TCP.',
  usage: 'collector simulate',
  options: {},
  optionHelp: {},
  env: ['LOG_LEVEL'],
  run() {
    return Promise.reject(errors.usage('the simulator is not built yet (issue: Collectors)'));
  },
});

export const collectorCommands = [collectCommand, simulateCommand];
