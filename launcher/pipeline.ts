import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import type { Lifecycle } from '../runtime/lifecycle.js';
import { errors, PlantError, EXIT_FAILED, EXIT_OK } from '../runtime/errors.js';
import { formatDuration } from '../runtime/duration.js';
import { openDatabase, redactUrl, type PlantDatabase } from '../db/index.js';
import { ProcessTree, forward, describeExit, type UnexpectedExit } from './process-tree.js';
import { assertPortsFree, freePort } from './ports.js';
import { parseListeningLine, type ListeningEvent } from './simulator.js';
import { isFirstStart, seededDays } from './seed-history.js';
import { untilStopSignal } from './stop-signals.js';

export interface PipelineOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly lifecycle: Lifecycle;
  /** A real gateway config: no simulator, no seed. */
  readonly gatewayConfig: string | undefined;
  /** Simulated history the first start seeds (0: none). */
  readonly historyMs: number;
  readonly devices: number;
  /** How the simulated plant is reached: Modbus TCP, or RTU over TCP through a simulated serial device server (all devices on one bus). */
  readonly transport?: 'tcp' | 'rtu-over-tcp';
}

/**
 * Children get this long to stop after Ctrl-C, so that with the embedded PostgreSQL's own fast
 * shutdown the whole tree has ended within the 10 s an operator (or a service manager) waits.
 * It covers the collector's stop, which is bounded to 4 s whatever its `write.timeout`
 * (collectors/collector.ts STOP_WAIT_MS): what it has not stored by then is in its journal, and
 * even a SIGKILL at the end of the budget loses no reading.
 */
const CHILDREN_STOP_BUDGET_MS = 7_000;
/** The simulator's first line comes after it has seeded the history: allow for a long seed. */
const SIMULATOR_READY_BASE_MS = 60_000;
const SIMULATOR_READY_PER_DAY_MS = 10_000;
const API_READY_MS = 30_000;

type Outcome = { readonly kind: 'started' } | { readonly kind: 'signalled' } | { readonly kind: 'failed'; readonly failure: UnexpectedExit } | { readonly kind: 'error'; readonly error: unknown };

/** The host for URLs a person opens: a wildcard listen address is reachable as localhost. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** The host the launcher itself probes: the loopback address of the wildcard's family. */
function probeHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return urlHost(host);
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PlantError('PC_START_TIMEOUT', `${what} within ${formatDuration(ms)}`, EXIT_FAILED)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** GET with node:http: fetch() refuses the ports browsers block (PORT=6000 is a valid choice). */
function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false));
  });
}

async function waitForHealth(url: string, lifecycle: Lifecycle): Promise<void> {
  const deadline = Date.now() + API_READY_MS;
  for (;;) {
    if (lifecycle.stopping) return;
    if (await healthy(url)) return;
    if (Date.now() > deadline) throw new PlantError('PC_START_TIMEOUT', `the API did not answer ${url} within ${formatDuration(API_READY_MS)}`, EXIT_FAILED);
    await delay(200);
  }
}

/**
 * `plant-climate start`: one process tree running the whole pipeline. This process owns the
 * database (it applies the migrations and, on the embedded default, starts and finally stops
 * the server); the components run as children from the package's own bins, each told the
 * resolved DATABASE_URL so that they all use the one server.
 */
export async function runPipeline(options: PipelineOptions): Promise<number> {
  const { config, log, lifecycle } = options;
  const host = config.api.host;
  if (options.gatewayConfig !== undefined) {
    await fs.access(options.gatewayConfig).catch(() => {
      throw errors.config('--config', `cannot read the gateway config ${JSON.stringify(options.gatewayConfig)}`);
    });
  }
  const apiPort = config.api.port === 0 ? await freePort(host) : config.api.port;
  await assertPortsFree([
    { what: 'the API', host, port: apiPort, variable: 'PORT' },
    { what: 'the collector metrics endpoint', host: '127.0.0.1', port: config.collector.metricsPort, variable: 'COLLECTOR_METRICS_PORT' },
    { what: 'the aggregator metrics endpoint', host: '127.0.0.1', port: config.aggregator.metricsPort, variable: 'AGGREGATOR_METRICS_PORT' },
  ]);

  const signalled = untilStopSignal(lifecycle, log);
  const database = await openDatabase({ config, log, lifecycle, applicationName: 'plant-climate start', schema: 'migrate', poolSize: 2 });
  if (lifecycle.stopping) {
    // Ctrl-C while the database was starting: its shutdown hook came too late to be run.
    await database.close();
    return EXIT_OK;
  }
  const tree = new ProcessTree(log);
  // Registered after the database, so it runs before the database is closed and stopped.
  lifecycle.onShutdown('children', () => tree.stop(CHILDREN_STOP_BUDGET_MS));

  const startup: Promise<Outcome> = startChildren({ ...options, database, tree, apiPort }).then(
    (): Outcome => ({ kind: 'started' }),
    (error: unknown): Outcome => ({ kind: 'error', error }),
  );
  const signal = signalled.then((): Outcome => ({ kind: 'signalled' }));
  const failure = tree.failed.then((failure): Outcome => ({ kind: 'failed', failure }));

  let outcome = await Promise.race([startup, signal, failure]);
  if (outcome.kind === 'error' && lifecycle.stopping) outcome = await Promise.race([signal, failure]);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'started') {
    printUrls(options, database, apiPort);
    outcome = await Promise.race([signal, failure]);
  }
  if (outcome.kind === 'failed') {
    log.error({ child: outcome.failure.name }, `${outcome.failure.name} ${describeExit(outcome.failure)}: stopping the pipeline`);
    await lifecycle.shutdown(`${outcome.failure.name} ended unexpectedly`);
    return EXIT_FAILED;
  }
  return EXIT_OK;
}

interface StartContext extends PipelineOptions {
  readonly database: PlantDatabase;
  readonly tree: ProcessTree;
  readonly apiPort: number;
}

async function startChildren(context: StartContext): Promise<void> {
  const { config, log, tree, database, lifecycle } = context;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: database.url,
    DB_SCHEMA: config.dbSchema,
    PLANT_DATA_DIR: config.dataDir,
    PORT: String(context.apiPort),
  };

  let gatewayConfig = context.gatewayConfig;
  if (gatewayConfig !== undefined) {
    await tree.task({ name: 'collector check', bin: 'collector', args: ['--config', gatewayConfig, '--check'], env });
  } else {
    gatewayConfig = path.join(config.dataDir, 'sim-gateway.yaml');
    const first = await isFirstStart(database.db);
    const seed = context.historyMs > 0 && first;
    const locationsFile = first ? path.join(config.dataDir, 'sim-locations.yaml') : undefined;
    const days = seededDays(context.historyMs, new Date(), config.timezone);
    const started = Date.now();
    if (seed) log.info({ history: formatDuration(context.historyMs), devices: context.devices }, 'first start: seeding simulated history');
    const listening = await startSimulator(context, env, gatewayConfig, seed, locationsFile);
    log.info({ ports: listening.ports, locations: listening.devices.map((device) => device.loc_id) }, context.transport === 'rtu-over-tcp' ? 'simulated plant serving RTU over TCP (one serial device server)' : 'simulated plant serving Modbus TCP');
    // First start: the simulated locations get names, areas and thresholds (versioned and
    // audited like any import), before the backfill so the seeded history has its excursions.
    if (locationsFile) await tree.task({ name: 'locations import', bin: 'plant-climate', args: ['locations', 'import', locationsFile], env });
    if (seed) {
      await tree.task({ name: 'backfill', bin: 'aggregator', args: ['backfill', '--start', days.start, '--end', days.end], env });
      log.info({ seconds: (Date.now() - started) / 1000, ...days }, 'first start: simulated history seeded and aggregated');
    }
  }
  if (lifecycle.stopping) return;
  tree.service({ name: 'collector', bin: 'collector', args: ['--config', gatewayConfig], env });
  tree.service({ name: 'aggregator', bin: 'aggregator', args: ['run'], env });
  tree.service({ name: 'api', bin: 'plant-climate', args: ['api'], env });
  await waitForHealth(`http://${probeHost(config.api.host)}:${context.apiPort}/health`, lifecycle);
}

async function startSimulator(context: StartContext, env: NodeJS.ProcessEnv, configFile: string, seed: boolean, locationsFile: string | undefined): Promise<ListeningEvent> {
  let onListening: (event: ListeningEvent) => void = () => {};
  const listening = new Promise<ListeningEvent>((resolve) => (onListening = resolve));
  const args = ['simulate', '--host', '127.0.0.1', '--port', '0', '--devices', String(context.devices), '--write-config', configFile];
  // A serial device server: every transmitter on one RS-485 bus behind one TCP port.
  if (context.transport === 'rtu-over-tcp') args.push('--transport', 'rtu-over-tcp', '--units-per-port', String(context.devices));
  if (seed) args.push('--seed-history', formatDuration(context.historyMs), '--seed-interval', '60s');
  if (locationsFile) args.push('--write-locations', locationsFile);
  context.tree.service({
    name: 'simulator',
    bin: 'collector',
    args,
    env,
    onStdout: (line) => {
      const event = parseListeningLine(line);
      if (event) onListening(event);
      else forward('simulator', line);
    },
  });
  const days = context.historyMs / 86_400_000;
  const timeout = SIMULATOR_READY_BASE_MS + (seed ? Math.ceil(days * SIMULATOR_READY_PER_DAY_MS) : 0);
  const event = await withDeadline(listening, timeout, 'the simulator did not report that it is listening');
  // The simulator writes the gateway config before it announces itself; make sure it is there.
  await fs.access(configFile).catch(() => {
    throw new PlantError('PC_START_FAILED', `the simulator did not write ${configFile}`, EXIT_FAILED);
  });
  return event;
}

function printUrls(options: PipelineOptions, database: PlantDatabase, apiPort: number): void {
  const { config } = options;
  const base = `http://${urlHost(config.api.host)}:${apiPort}`;
  const where = database.embedded ? `embedded, data in ${config.dataDir}` : 'DATABASE_URL';
  const lines = [
    '',
    'plant-climate is running. Ctrl-C stops it.',
    `  status page  ${base}/`,
    `  API          ${base}/v1/locations`,
    `  API docs     ${base}/docs`,
    `  metrics      ${base}/metrics  collector http://127.0.0.1:${config.collector.metricsPort}/metrics  aggregator http://127.0.0.1:${config.aggregator.metricsPort}/metrics`,
    `  database     ${redactUrl(database.url)} (${where}, schema ${config.dbSchema})`,
    options.gatewayConfig === undefined
      ? `  gateway      simulated plant, config ${path.join(config.dataDir, 'sim-gateway.yaml')}`
      : `  gateway      ${options.gatewayConfig}`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
