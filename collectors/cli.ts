import fs from 'node:fs/promises';
import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';
import { componentLogger } from '../runtime/logger.js';
import { parseDuration, DURATION_HINT } from '../runtime/duration.js';
import { openDatabase } from '../db/index.js';
import { loadGatewayConfig } from './gateway-config.js';
import { describeLines, lineBudgets } from './line-budget.js';
import { startCollector, spoolDirectory } from './collector.js';
import { replayDeadLetters } from './dead-letter-replay.js';
import { SimulatedPlant, parseFaults, FAULTS_HINT, SIMULATED_TRANSPORTS, type SimulatedTransport } from './simulated-plant.js';
import { seedHistory } from './history-seeding.js';

export const collectCommand = defineCommand({
  name: undefined,
  summary: 'Poll the devices of a gateway config (Modbus TCP, RTU over TCP, serial RTU) into temperature_raw.',
  usage: 'collector --config FILE [--check]',
  options: { config: { type: 'string', short: 'c' }, check: { type: 'boolean' } },
  optionHelp: { config: 'the gateway config (YAML)', check: 'validate the config, report its lines (which endpoints share one, each RTU line\'s budget) and exit without polling' },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'COLLECTOR_METRICS_PORT', 'LOG_LEVEL'],
  async run({ values, config, log: root, lifecycle }) {
    if (!values.config) throw errors.usage('--config FILE is required\nUsage: collector --config FILE [--check]');
    const gateway = await loadGatewayConfig(values.config);
    if (values.check) {
      const budgets = lineBudgets(gateway);
      const requests = budgets.reduce((sum, budget) => sum + budget.requestsPerRound, 0);
      const report = describeLines(budgets);
      process.stdout.write(
        `${values.config}: OK (gateway ${gateway.gateway}: ${gateway.devices.length} devices on ${budgets.length} endpoints, ${requests} requests per poll round)\n` +
          report.lines.map((line) => `  ${line}\n`).join('') +
          report.warnings.map((warning) => `${warning}\n`).join(''),
      );
      return;
    }
    const log = componentLogger(root, 'collector');
    await startCollector({ gateway, config, log, lifecycle });
    await lifecycle.untilSignalled();
  },
});

function positiveInteger(name: string, text: string | undefined, fallback: number, max = 100_000): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 0 || Number(text) > max) throw errors.usage(`--${name}: expected a whole number up to ${max}, got ${JSON.stringify(text)}`);
  return Number(text);
}

function durationOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw errors.usage(`--${name}: expected ${DURATION_HINT}, got ${JSON.stringify(text)}`);
  return ms;
}

export const simulateCommand = defineCommand({
  name: 'simulate',
  summary: 'Serve simulated temperature/humidity transmitters over Modbus TCP, or RTU over TCP like a serial device server.',
  usage:
    'collector simulate [--transport tcp|rtu-over-tcp] [--baud-rate 9600] [--host 127.0.0.1] [--port 0] [--devices 4] [--units-per-port 1] [--gateway gw-sim] [--config-host HOST] ' +
    '[--write-config FILE] [--write-locations FILE] [--poll-interval 10s] [--faults SPEC] [--seed-history 7d --seed-interval 60s]',
  options: {
    transport: { type: 'string' },
    'baud-rate': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    devices: { type: 'string' },
    'units-per-port': { type: 'string' },
    gateway: { type: 'string' },
    'config-host': { type: 'string' },
    'write-config': { type: 'string' },
    'write-locations': { type: 'string' },
    'poll-interval': { type: 'string' },
    faults: { type: 'string' },
    'seed-history': { type: 'string' },
    'seed-interval': { type: 'string' },
  },
  optionHelp: {
    transport: 'tcp (Modbus TCP servers, the default) or rtu-over-tcp (serial device servers in TCP server mode: raw RTU frames, one RS-485 bus per port)',
    'baud-rate': 'speed of the simulated RS-485 buses with rtu-over-tcp (default 9600): answers take the time they would on the wire',
    host: 'address to listen on (default 127.0.0.1)',
    port: 'first TCP port; one port per --units-per-port devices (default 0: free ports)',
    devices: 'number of simulated transmitters (default 4)',
    'units-per-port': 'unit ids behind each port, like a TCP-to-RTU gateway (default 1)',
    gateway: 'gateway name written to the config (default gw-sim)',
    'config-host': 'host written to the config (default the listen host)',
    'write-config': 'write the gateway config (YAML) that polls the simulator to FILE',
    'write-locations': 'write the simulated locations with names, areas and thresholds (for plant-climate locations import) to FILE',
    'poll-interval': 'poll interval written to the config (default 10s)',
    faults: FAULTS_HINT,
    'seed-history': 'write this much simulated history (e.g. 7d) into temperature_raw before serving',
    'seed-interval': 'spacing of seeded readings (default 60s)',
  },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'LOG_LEVEL'],
  async run({ values, config, log: root, lifecycle }) {
    const log = componentLogger(root, 'simulator');
    const host = values.host ?? '127.0.0.1';
    const port = positiveInteger('port', values.port, 0, 65535);
    const devices = positiveInteger('devices', values.devices, 4);
    const unitsPerPort = positiveInteger('units-per-port', values['units-per-port'], 1, 247);
    if (devices < 1 || unitsPerPort < 1) throw errors.usage('--devices and --units-per-port must be at least 1');
    const gateway = values.gateway ?? 'gw-sim';
    const faults = parseFaults(values.faults);
    const pollInterval = values['poll-interval'] ?? '10s';
    durationOption('poll-interval', pollInterval);
    const seedMs = durationOption('seed-history', values['seed-history']);
    const seedIntervalMs = durationOption('seed-interval', values['seed-interval']) ?? 60_000;
    const transport = values.transport ?? 'tcp';
    if (!(SIMULATED_TRANSPORTS as readonly string[]).includes(transport)) throw errors.usage(`--transport: expected one of ${SIMULATED_TRANSPORTS.join(', ')}, got ${JSON.stringify(transport)}`);
    if (values['baud-rate'] !== undefined && transport !== 'rtu-over-tcp') throw errors.usage('--baud-rate applies to --transport rtu-over-tcp only');
    const baudRate = positiveInteger('baud-rate', values['baud-rate'], 9600, 4_000_000);
    if (baudRate < 300) throw errors.usage('--baud-rate: at least 300');
    const plant = await SimulatedPlant.start({ host, port, devices, unitsPerPort, faults, log, transport: transport as SimulatedTransport, baudRate });
    lifecycle.onShutdown('simulator', () => plant.stop());
    if (values['write-config']) {
      await fs.writeFile(values['write-config'], plant.gatewayConfig({ gateway, host: values['config-host'] ?? host, pollInterval, timeout: '1s' }));
    }
    if (values['write-locations']) await fs.writeFile(values['write-locations'], plant.locationsFile(new Date(Math.floor((Date.now() - (seedMs ?? 0)) / 3_600_000) * 3_600_000 - 3_600_000)));
    if (seedMs !== undefined) {
      const database = await openDatabase({ config, log, lifecycle, applicationName: 'collector simulate', schema: 'check' });
      await seedHistory({ pool: database.pool, gateway, devices: plant.devices, durationMs: seedMs, intervalMs: seedIntervalMs, log });
    }
    process.stdout.write(
      `${JSON.stringify({ event: 'listening', transport, host, ports: plant.ports, devices: plant.devices.map(({ id, loc_id, port: devicePort, unit_id }) => ({ id, loc_id, port: devicePort, unit_id })) })}\n`,
    );
    await lifecycle.untilSignalled();
  },
});

export const replayDeadLettersCommand = defineCommand({
  name: 'replay-dead-letters',
  summary: 'Retry the readings the database refused (the dead-letter file), once the cause is fixed.',
  usage: 'collector replay-dead-letters --config FILE',
  options: { config: { type: 'string', short: 'c' } },
  optionHelp: { config: 'the gateway config (YAML) whose dead-letter file to replay' },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'LOG_LEVEL'],
  async run({ values, config, log: root, lifecycle }) {
    if (!values.config) throw errors.usage('--config FILE is required\nUsage: collector replay-dead-letters --config FILE');
    const gateway = await loadGatewayConfig(values.config);
    const log = componentLogger(root, 'collector');
    const database = await openDatabase({ config, log, lifecycle, applicationName: `collector ${gateway.gateway} replay-dead-letters`, schema: 'check' });
    const outcome = await replayDeadLetters({ dir: spoolDirectory(config.dataDir, gateway.gateway), pool: database.pool, timeoutMs: gateway.write.timeoutMs, log });
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    return outcome.stillRefused > 0 || outcome.unreadableLines.length > 0 ? 1 : 0;
  },
});

export const collectorCommands = [collectCommand, simulateCommand, replayDeadLettersCommand];
