import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { openDatabase, assertSchemaCurrent } from '../db/index.js';
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import type { Lifecycle } from '../runtime/lifecycle.js';
import { errors } from '../runtime/errors.js';
import type { GatewayConfig } from './gateway-types.js';
import { CollectorMetrics } from './collector-metrics.js';
import { ModbusEndpoint } from './modbus-endpoint.js';
import { OVERSUBSCRIBED, lineBudgets } from './line-budget.js';
import { DevicePoller } from './device-poller.js';
import { ClockStepWatch, PollSchedule, pollPhases } from './poll-schedule.js';
import { ReadingJournal } from './reading-journal.js';
import { JournalLock } from './journal-lock.js';
import { ReadingWriter } from './reading-writer.js';
import { DeviceHealth } from './device-health.js';
import { writeReadings } from './raw-table-writer.js';

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

/**
 * The gateway's journal directory. Names map injectively: every byte other than letters, digits,
 * `.`, `_` and `-` is percent-escaped (so `%` itself is too), and `.`/`..` are escaped whole, so
 * `gw 1` and `gw_1` get directories of their own.
 */
export function spoolDirectory(dataDir: string, gateway: string): string {
  let name = [...Buffer.from(gateway, 'utf8')].map((byte) => (/[A-Za-z0-9._-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
  if (name === '.' || name === '..') name = name.replace(/\./g, '%2E');
  return path.join(dataDir, 'spool', name);
}

/**
 * A stop waits this long for polls in progress, then for the last batch (and a replay slice in
 * flight), then for the device table: at most 4 s in all, whatever `write.timeout` says, because
 * what is not stored by then is in the journal and the next start replays it. The launcher's stop
 * budget (launcher/pipeline.ts) is sized for this.
 */
export const STOP_WAIT_MS = { polls: 1_000, writes: 2_000, deviceTable: 1_000 } as const;

/**
 * Before the journal a gateway's spool directory replaced every other character by `_`, which
 * two names could share: such a directory cannot be claimed automatically, so its owner is told.
 */
async function warnAboutLegacySpool(dataDir: string, gateway: string, log: Logger): Promise<void> {
  const legacy = path.join(dataDir, 'spool', gateway.replace(/[^A-Za-z0-9._-]/g, '_'));
  if (legacy === spoolDirectory(dataDir, gateway)) return;
  const names = await fs.readdir(legacy).catch(() => [] as string[]);
  if (names.some((name) => /^segment-\d{12}\.spool$/.test(name))) {
    log.warn(
      { legacy, journal: spoolDirectory(dataDir, gateway) },
      'a spool of an earlier version holds readings under the old directory name: if they are this gateway\'s, stop the collector and move its segment-*.spool files into the journal directory (the next start replays them)',
    );
  }
}

/** Whether the database answers a trivial query within `timeoutMs`. */
async function probeDatabase(pool: pg.Pool, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      pool.query('SELECT 1'),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('probe timed out')), timeoutMs);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts polling a gateway's devices into temperature_raw, each reading journaled on receipt.
 * The database may be down at start: readings then stay in the journal until it is back (only a
 * schema that does not match this build stops the collector).
 */
export async function startCollector(options: CollectorOptions): Promise<RunningCollector> {
  const { gateway, config, log, lifecycle } = options;
  const journalDir = spoolDirectory(config.dataDir, gateway.gateway);
  // First of all: a second collector on the same directory must not touch anything.
  const lock = JournalLock.acquire(journalDir, log);
  lifecycle.onShutdown('journal lock', () => lock.release());
  await warnAboutLegacySpool(config.dataDir, gateway.gateway, log);
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
  const journal = await ReadingJournal.open(journalDir, {
    log,
    maxBytes: gateway.spool.maxBytes,
    whenFull: gateway.spool.whenFull,
    syncIntervalMs: gateway.spool.syncIntervalMs,
    onDropped: (readings) => metrics.spoolDropped.inc(readings),
    onWriteError: (code) => metrics.journalWriteErrors.inc({ code }),
    onSkipped: (bytes, records) => {
      metrics.journalSkippedBytes.inc(bytes);
      metrics.journalSkippedRecords.inc(records);
    },
  });
  metrics.beforeScrape(() => {
    const stats = journal.stats();
    metrics.spoolBytes.set(stats.bytes);
    metrics.spoolBatches.set(stats.segments);
    metrics.spoolReadings.set(stats.readings);
    metrics.spoolOldestAge.set(stats.oldestCaptureMs === undefined ? 0 : Math.max(0, (Date.now() - stats.oldestCaptureMs) / 1000));
  });
  metrics.databaseReachable.set(1);
  const writer = new ReadingWriter({
    gateway: gateway.gateway,
    sink: (gatewayId, readings, options) => writeReadings(database.pool, gatewayId, readings, gateway.write.timeoutMs, options),
    probe: () => probeDatabase(database.pool, gateway.write.timeoutMs),
    journal,
    metrics,
    log,
    batchSize: gateway.write.batchSize,
    maxDelayMs: gateway.write.maxDelayMs,
    beforeFirstWrite: checkSchema,
  });
  const clockWatch = new ClockStepWatch((stepMs) => {
    metrics.clockSteps.inc();
    log.warn({ stepMs }, 'the wall clock stepped: polling goes on (it runs on the monotonic clock); capture_dt follows the wall clock');
  });
  const shortestInterval = gateway.devices.reduce((shortest, device) => Math.min(shortest, device.pollIntervalMs), Number.POSITIVE_INFINITY);
  const health = new DeviceHealth({ pool: database.pool, gateway: gateway.gateway, devices: gateway.devices, log, periodMs: Math.max(shortestInterval, 1_000) });
  const endpoints = new Map<string, ModbusEndpoint>();
  const pollers = gateway.devices.map((device) => {
    let endpoint = endpoints.get(device.line.key);
    if (!endpoint) {
      endpoint = new ModbusEndpoint(device.line, log, metrics);
      endpoints.set(device.line.key, endpoint);
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
  const phases = pollPhases(gateway.devices.map((device) => ({ endpoint: device.line.key, intervalMs: device.pollIntervalMs })));
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
  for (const budget of lineBudgets(gateway)) {
    if (budget.utilization !== undefined && budget.utilization > OVERSUBSCRIBED) {
      log.warn({ line: budget.line.key, utilization: budget.utilization, fastestIntervalMs: budget.fastestIntervalMs }, 'line is oversubscribed by the config: polls will be skipped (collector --check shows its budget)');
    }
  }
  log.info(
    { gateway: gateway.gateway, devices: pollers.length, endpoints: endpoints.size, metricsPort, journal: journal.dir, syncIntervalMs: gateway.spool.syncIntervalMs },
    'collector running',
  );

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      clockWatch.stop();
      for (const schedule of schedules) schedule.stop();
      await Promise.race([Promise.all(pollers.map((poller) => poller.idle())), new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS.polls))]);
      for (const endpoint of endpoints.values()) endpoint.close();
      await writer.close(STOP_WAIT_MS.writes);
      await Promise.race([health.close(), new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS.deviceTable))]);
      log.info({ spooledReadings: journal.stats().readings }, 'collector stopped');
    })();
    return stopped;
  };
  lifecycle.onShutdown('collector', stop);
  return { metricsPort, metrics, pollers, stop };
}
