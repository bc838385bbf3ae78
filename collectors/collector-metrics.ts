import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../runtime/logger.js';
import { errors } from '../runtime/errors.js';

/** The collector's Prometheus metrics (names fixed in docs/interfaces.md), on a registry of its own. */
export class CollectorMetrics {
  readonly registry = new Registry();
  readonly polls = new Counter({ name: 'plant_collector_polls_total', help: 'Device polls by result (ok|error|timeout).', labelNames: ['device', 'result'], registers: [this.registry] });
  readonly pollsSkipped = new Counter({ name: 'plant_collector_polls_skipped_total', help: 'Polls not started because the previous poll of the device was still running.', labelNames: ['device'], registers: [this.registry] });
  readonly pollDuration = new Histogram({
    name: 'plant_collector_poll_duration_seconds',
    help: 'Time from the scheduled poll time to the last response of the poll.',
    labelNames: ['endpoint'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly requests = new Counter({ name: 'plant_collector_requests_total', help: 'Modbus requests by function and result (ok|exception|timeout|error).', labelNames: ['function', 'result'], registers: [this.registry] });
  readonly readingsWritten = new Counter({ name: 'plant_collector_readings_written_total', help: 'Readings committed to temperature_raw (replays of spooled batches included).', registers: [this.registry] });
  readonly nullValues = new Counter({ name: 'plant_collector_null_values_total', help: 'Metric values stored as NULL, by reason (nan|sentinel|out_of_range|read_failed).', labelNames: ['metric', 'reason'], registers: [this.registry] });
  readonly spoolBytes = new Gauge({ name: 'plant_collector_spool_bytes', help: 'Bytes of the journal waiting for replay (readings the database did not take, or an earlier run left).', registers: [this.registry] });
  readonly spoolBatches = new Gauge({ name: 'plant_collector_spool_batches', help: 'Journal segments waiting for replay (the name is from when the spool held batches).', registers: [this.registry] });
  readonly spoolReadings = new Gauge({ name: 'plant_collector_spool_readings', help: 'Readings in the journal waiting for replay (the database did not take them, or an earlier run left them).', registers: [this.registry] });
  readonly spoolOldestAge = new Gauge({ name: 'plant_collector_spool_oldest_age_seconds', help: 'Age of the oldest reading waiting for replay in the journal (0 when none).', registers: [this.registry] });
  readonly spoolDropped = new Counter({ name: 'plant_collector_spool_dropped_readings_total', help: 'Readings given up: the journal\'s size cap or a full disk (when_full policy), or unjournaled during an outage.', registers: [this.registry] });
  readonly journalWriteErrors = new Counter({ name: 'plant_collector_journal_write_errors_total', help: 'Journal writes or syncs that failed, by errno code (ENOSPC: full disk or spool.max_bytes).', labelNames: ['code'], registers: [this.registry] });
  readonly journalSkippedBytes = new Counter({ name: 'plant_collector_journal_skipped_bytes_total', help: 'Bytes of torn or corrupt journal records skipped on replay.', registers: [this.registry] });
  readonly journalSkippedRecords = new Counter({ name: 'plant_collector_journal_skipped_records_total', help: 'Torn or corrupt stretches of the journal skipped on replay (each one record or more).', registers: [this.registry] });
  readonly deadLetters = new Counter({ name: 'plant_collector_dead_letter_readings_total', help: 'Readings the database refused, written to the dead-letter file.', registers: [this.registry] });
  readonly databaseReachable = new Gauge({ name: 'plant_collector_database_reachable', help: '1 while writes reach the database, 0 while readings only go to the journal.', registers: [this.registry] });
  readonly clockSteps = new Counter({ name: 'plant_collector_clock_steps_total', help: 'Wall-clock steps of more than 5 s (NTP corrections, manual changes); polling runs on the monotonic clock.', registers: [this.registry] });
  readonly lineUtilization = new Gauge({
    name: 'plant_collector_line_utilization',
    help: 'Share of the last 5 s each line (a Modbus TCP endpoint or an RTU bus) was busy with requests, their silences and turnaround (1: saturated).',
    labelNames: ['line'],
    registers: [this.registry],
  });
  readonly lineOverruns = new Counter({
    name: 'plant_collector_line_overruns_total',
    help: 'Polls that came due while the device\'s previous poll was still waiting for its line: the line cannot keep up with the configured intervals.',
    labelNames: ['line'],
    registers: [this.registry],
  });
  readonly lineStaleBytes = new Counter({
    name: 'plant_collector_line_stale_bytes_total',
    help: 'Bytes an RTU line received outside any request (late replies after a timeout, noise), discarded before the next request.',
    labelNames: ['line'],
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({ name: 'plant_collector_last_success_timestamp_seconds', help: 'Unix time of the last successful poll of each device.', labelNames: ['device'], registers: [this.registry] });
  readonly dbWriteDuration = new Histogram({
    name: 'plant_collector_db_write_duration_seconds',
    help: 'Duration of one batch write to temperature_raw.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });

  #beforeScrape: (() => void) | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'plant_collector_' });
  }

  /** Sets gauges that are cheaper to read at scrape time than to keep current (the journal's). */
  beforeScrape(fn: () => void): void {
    this.#beforeScrape = fn;
  }

  /** Serves /metrics; resolves with the bound port (port 0 picks a free one). */
  async serve(port: number, host: string, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
    const server = http.createServer((request, response) => {
      if (request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404).end('not found\n');
        return;
      }
      this.#beforeScrape?.();
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) => {
          log.error({ err: error }, 'metrics rendering failed');
          response.writeHead(500).end();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? errors.portInUse('the collector metrics endpoint', `${host}:${port}`, 'Set COLLECTOR_METRICS_PORT to a free port (0 picks one).') : error),
      );
      server.listen(port, host, resolve);
    });
    const bound = (server.address() as AddressInfo).port;
    return {
      port: bound,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
