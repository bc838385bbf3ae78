import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SlotStatus } from '../db/index.js';
import { scrapeRead } from '../runtime/scrape-read.js';

/** The aggregator's Prometheus metrics (names fixed in docs/interfaces.md). */
export interface AggregatorMetrics {
  readonly registry: Registry;
  readonly runDuration: Histogram;
  readonly hours: Counter<'outcome'>;
  readonly dirtyHours: Gauge;
  readonly rawRowsScanned: Counter;
  readonly lag: Gauge;
  readonly lastSuccess: Gauge;
  readonly lastVerify: Gauge;
  readonly failures: Counter;
  readonly frozenLateReadings: Counter;
  readonly rawReadingsOutsidePartitions: Gauge;
  readonly rawPartitionsAhead: Gauge;
}

export interface AggregatorMetricsOptions {
  readonly defaultMetrics?: boolean;
  /**
   * The plant's replication slots for headquarters (db replicationSlots), read at each scrape:
   * a headquarters that is down or cut makes its slot keep WAL until the plant's disk is full,
   * between two scheduled runs as much as during one. Without it, no slot gauges have values.
   */
  readonly replicationSlots?: {
    readonly read: () => Promise<readonly SlotStatus[]>;
    readonly onError: (error: unknown) => void;
  };
}

export function createAggregatorMetrics(options: AggregatorMetricsOptions = {}): AggregatorMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'plant_aggregator_' });
  const registers = [registry];
  const metrics: AggregatorMetrics = {
    registry,
    runDuration: new Histogram({
      name: 'plant_aggregator_run_duration_seconds',
      help: 'Duration of a scheduled aggregation run',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    }),
    hours: new Counter({ name: 'plant_aggregator_hours_total', help: 'Hours aggregated, by outcome', labelNames: ['outcome'], registers }),
    dirtyHours: new Gauge({ name: 'plant_aggregator_dirty_hours', help: 'Dirty (location, hour) marks of complete hours still waiting after the last run', registers }),
    rawRowsScanned: new Counter({ name: 'plant_aggregator_raw_rows_scanned_total', help: 'Raw rows read by the rollup', registers }),
    lag: new Gauge({ name: 'plant_aggregator_lag_seconds', help: 'Now minus the end of the newest aggregated complete hour', registers }),
    lastSuccess: new Gauge({ name: 'plant_aggregator_last_success_timestamp_seconds', help: 'Unix time of the last successful run', registers }),
    lastVerify: new Gauge({ name: 'plant_aggregator_last_verify_timestamp_seconds', help: 'Unix time of the last verify (any process)', registers }),
    failures: new Counter({ name: 'plant_aggregator_failures_total', help: 'Runs that failed', registers }),
    frozenLateReadings: new Counter({
      name: 'plant_aggregator_frozen_late_readings_total',
      help: 'Readings written into frozen hours (before the raw-retention horizon): they never reach their hourly row',
      registers,
    }),
    rawReadingsOutsidePartitions: new Gauge({
      name: 'plant_aggregator_raw_readings_outside_partitions',
      help: 'Raw readings in the default partition, outside every day partition: a transmitter clock far off, or history older than the partitions',
      registers,
    }),
    rawPartitionsAhead: new Gauge({
      name: 'plant_aggregator_raw_partitions_ahead_seconds',
      help: 'End of the newest day partition of the raw table minus now: how long writers have before readings go to the default partition',
      registers,
    }),
  };
  for (const outcome of ['written', 'unchanged', 'removed']) metrics.hours.inc({ outcome }, 0);
  const source = options.replicationSlots;
  const slots = source ? scrapeRead(source.read, source.onError) : async () => Promise.resolve(undefined);
  const slotGauge = (name: string, help: string, value: (slot: SlotStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['slot'],
      registers,
      async collect() {
        const now = await slots();
        // Rebuilt at every scrape: a dropped slot's series ends with it.
        this.reset();
        for (const slot of now ?? []) this.set({ slot: slot.slot }, value(slot));
      },
    });
  slotGauge(
    'plant_aggregator_replication_slot_retained_wal_bytes',
    'WAL this plant keeps for a headquarters replication slot (plant_climate_<code>): grows while headquarters does not consume it',
    (slot) => slot.retainedBytes,
  );
  slotGauge('plant_aggregator_replication_slot_active', '1 while a headquarters is connected to its replication slot, 0 while not', (slot) => (slot.active ? 1 : 0));
  return metrics;
}

/** Serves /metrics on `port` (0 picks a free one); resolves with the server and its port. */
export async function serveMetrics(registry: Registry, port: number, host?: string): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
