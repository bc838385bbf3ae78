import { defineCommand } from '../runtime/cli.js';
import { componentLogger } from '../runtime/logger.js';
import { errors } from '../runtime/errors.js';
import { parseDuration, formatDuration, DURATION_HINT } from '../runtime/duration.js';
import { runPipeline } from './pipeline.js';

const MAX_DEVICES = 64;

function parseHistoryFlag(text: string): number {
  if (text === 'off' || text === '0') return 0;
  const ms = parseDuration(text);
  if (ms === undefined) throw errors.usage(`--history: expected ${DURATION_HINT}, or off; got ${JSON.stringify(text)}`);
  return ms;
}

function parseDevicesFlag(text: string): number {
  const devices = Number(text);
  if (!Number.isInteger(devices) || devices < 1 || devices > MAX_DEVICES) {
    throw errors.usage(`--devices: expected a whole number from 1 to ${MAX_DEVICES}, got ${JSON.stringify(text)}`);
  }
  return devices;
}

export const startCommand = defineCommand({
  name: 'start',
  summary:
    'Run the whole pipeline in one process tree: migrations, a simulated plant (or --config), a collector, the aggregator and the API; prints their URLs. Ctrl-C stops it.',
  usage: 'plant-climate start [--config FILE] [--history 7d|off] [--devices 4] [--transport tcp|rtu-over-tcp]',
  options: {
    config: { type: 'string', short: 'c' },
    history: { type: 'string' },
    devices: { type: 'string' },
    transport: { type: 'string' },
  },
  optionHelp: {
    config: 'poll the devices of this gateway config instead of a simulated plant',
    history: 'simulated history the first start seeds and aggregates (default START_HISTORY); off for none',
    devices: 'simulated transmitters, one location each (default 4)',
    transport: 'how the collector reaches the simulated plant: tcp (Modbus TCP, the default) or rtu-over-tcp (one simulated serial device server, all transmitters on its 9,600-baud bus)',
  },
  env: [
    'DATABASE_URL',
    'DB_SCHEMA',
    'PLANT_DATA_DIR',
    'PLANT_TIMEZONE',
    'HOST',
    'PORT',
    'START_HISTORY',
    'COLLECTOR_METRICS_PORT',
    'AGGREGATOR_METRICS_PORT',
    'AGGREGATOR_CRON',
    'API_KEYS',
    'LOG_LEVEL',
  ],
  async run({ values, config, log: root, lifecycle }) {
    const log = componentLogger(root, 'launcher');
    const gatewayConfig = values.config;
    if (gatewayConfig !== undefined && (values.history !== undefined || values.devices !== undefined || values.transport !== undefined)) {
      throw errors.usage('--history, --devices and --transport shape the simulated plant; with --config no simulator runs (the config names each device\'s transport)');
    }
    const transport = values.transport ?? 'tcp';
    if (transport !== 'tcp' && transport !== 'rtu-over-tcp') throw errors.usage(`--transport: expected tcp or rtu-over-tcp, got ${JSON.stringify(transport)}`);
    const historyMs = gatewayConfig !== undefined ? 0 : values.history !== undefined ? parseHistoryFlag(values.history) : config.start.historyMs;
    const devices = values.devices !== undefined ? parseDevicesFlag(values.devices) : 4;
    log.debug({ history: formatDuration(historyMs), devices, gatewayConfig, transport }, 'starting the pipeline');
    return runPipeline({ config, log, lifecycle, gatewayConfig, historyMs, devices, transport });
  },
});
