import path from 'node:path';
import type { Kysely } from 'kysely';
import { openDatabase, assertSchemaCurrent } from '../db/index.js';
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import type { Lifecycle } from '../runtime/lifecycle.js';
import { errors } from '../runtime/errors.js';
import type { GatewayConfig } from './gateway-config.js';
import { CollectorMetrics } from './collector-metrics.js';
import { ModbusEndpoint } from './modbus-endpoint.js';
import { DevicePoller } from './device-poller.js';
import { PollSchedule, pollPhases } from './poll-schedule.js';
import { Spool } from './spool.js';
import { ReadingWriter } from './reading-writer.js';
import { DeviceHealth } from './device-health.js';

export interface CollectorOptions {
  readonly gateway: GatewayConfig;
  readonly config: Pick<Config, 'databaseUrl' | 'dbSchema' | 'dataDir' | 'collector'>;
  readonly log: Logger;
  readonly lifecycle: Lifecycle;
  /** Address of the metrics endpoint (default all interfaces: Prometheus scrapes the gateway from elsewhere). */
  readonly metricsHost?: string;
}

export interface RunningCollector {
  readonly metricsPort: number;
  readonly metrics: CollectorMetrics;
  readonly pollers: readonly DevicePoller[];
  stop(): Promise<void>;
}

export function spoolDirectory(dataDir: string, gateway: string): string {
  return path.join(dataDir, 'spool', gateway.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/**
 * Starts polling a gateway's devices into temperature_raw. The database may be down at start:
 * readings then go to the spool until it is back (only a schema that does not match this build
 * stops the collector).
 */
export async function startCollector(options: CollectorOptions): Promise<RunningCollector> {
  const { gateway, config, log, lifecycle } = options;
  const metrics = new CollectorMetrics();
  const server = await metrics.serve(config.collector.metricsPort, options.metricsHost ?? '0.0.0.0', log);
  lifecycle.onShutdown('collector metrics', () => server.close());
  const metricsPort = server.port;
  const database = await openDatabase({ config, log, lifecycle, applicationName: `collector ${gateway.gateway}`, schema: 'none', poolSize: 4 });
  const checkSchema = () => assertSchemaCurrent(database.db as Kysely<unknown>, database.schema);
  try {
    await checkSchema();
  } catch (error) {
    if (errors.schemaOutOfDate.is(error)) throw error;
    log.warn({ err: error }, 'database unreachable at start: polling anyway, readings are spooled until it is back');
  }
  const spool = await Spool.open(spoolDirectory(config.dataDir, gateway.gateway), {
    log,
    maxBytes: gateway.spool.maxBytes,
    whenFull: gateway.spool.whenFull,
    onChange: (stats) => {
      metrics.spoolBytes.set(stats.bytes);
      metrics.spoolBatches.set(stats.batches);
    },
    onDropped: (readings) => metrics.spoolDropped.inc(readings),
  });
  const oldestAge = setInterval(() => {
    const oldest = spool.stats().oldestCaptureMs;
    metrics.spoolOldestAge.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
  }, 1_000);
  oldestAge.unref();
  const writer = new ReadingWriter({
    pool: database.pool,
    gateway: gateway.gateway,
    spool,
    metrics,
    log,
    batchSize: gateway.write.batchSize,
    maxDelayMs: gateway.write.maxDelayMs,
    timeoutMs: gateway.write.timeoutMs,
    beforeFirstWrite: checkSchema,
  });
  const shortestInterval = Math.min(...gateway.devices.map((device) => device.pollIntervalMs));
  const health = new DeviceHealth({ pool: database.pool, gateway: gateway.gateway, devices: gateway.devices, log, periodMs: Math.max(shortestInterval, 1_000) });
  const endpoints = new Map<string, ModbusEndpoint>();
  const pollers = gateway.devices.map((device) => {
    const key = `${device.host}:${device.port}`;
    let endpoint = endpoints.get(key);
    if (!endpoint) {
      endpoint = new ModbusEndpoint(device.host, device.port, log, metrics);
      endpoints.set(key, endpoint);
    }
    return new DevicePoller({
      device,
      endpoint,
      maxGap: gateway.maxGap,
      metrics,
      log,
      onReading: (reading) => writer.add(reading),
      onOutcome: (outcome) => health.record(outcome),
    });
  });
  const phases = pollPhases(gateway.devices.map((device) => ({ endpoint: `${device.host}:${device.port}`, intervalMs: device.pollIntervalMs })));
  const groups = new Map<string, { intervalMs: number; phaseMs: number; pollers: DevicePoller[] }>();
  pollers.forEach((poller, index) => {
    const intervalMs = poller.device.pollIntervalMs;
    const phaseMs = phases[index] ?? 0;
    const key = `${intervalMs}/${phaseMs}`;
    const group = groups.get(key) ?? { intervalMs, phaseMs, pollers: [] };
    group.pollers.push(poller);
    groups.set(key, group);
  });
  const schedules = [...groups.values()].map(
    ({ intervalMs, phaseMs, pollers: group }) =>
      new PollSchedule(
        intervalMs,
        (scheduledAt) => {
          for (const poller of group) poller.poll(scheduledAt);
        },
        (missed) => {
          log.warn({ intervalMs, missed }, 'polls missed: the process was blocked');
          for (const poller of group) metrics.pollsSkipped.inc({ device: poller.device.id }, missed);
        },
        phaseMs,
      ),
  );
  log.info(
    { gateway: gateway.gateway, devices: pollers.length, endpoints: endpoints.size, metricsPort, spool: spool.dir },
    'collector running',
  );

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      clearInterval(oldestAge);
      for (const schedule of schedules) schedule.stop();
      const longest = Math.max(...gateway.devices.map((device) => device.timeoutMs * Math.max(1, device.registers.length)));
      await Promise.race([Promise.all(pollers.map((poller) => poller.idle())), new Promise((resolve) => setTimeout(resolve, longest + 500))]);
      for (const endpoint of endpoints.values()) endpoint.close();
      await writer.close();
      await health.close();
      const left = spool.stats();
      log.info({ spooledReadings: left.readings }, 'collector stopped');
    })();
    return stopped;
  };
  lifecycle.onShutdown('collector', stop);
  return { metricsPort, metrics, pollers, stop };
}
