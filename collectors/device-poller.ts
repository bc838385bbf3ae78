import type { Logger } from '../runtime/logger.js';
import { METRICS } from '../db/index.js';
import type { DeviceSpec, Metric } from './gateway-types.js';
import { decodeRegister, type DecodedValue, type NullReason } from './register-decoding.js';
import { planRequests, splitRequest, wordsOf, type PlannedRequest } from './request-plan.js';
import { ModbusExceptionError, ModbusTimeoutError, type ModbusEndpoint } from './modbus-endpoint.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { CollectorMetrics } from './collector-metrics.js';
import type { Reading } from './reading.js';

export interface PollOutcome {
  readonly deviceId: string;
  readonly ok: boolean;
  readonly at: number;
  readonly error?: string;
}

export interface DevicePollerOptions {
  readonly device: DeviceSpec;
  readonly endpoint: ModbusEndpoint;
  readonly maxGap: number;
  readonly metrics: CollectorMetrics;
  readonly log: Logger;
  readonly onReading: (reading: Reading) => void;
  readonly onOutcome: (outcome: PollOutcome) => void;
}

/** Polls one device: its request plan, decoding, circuit breaker and null-state logging. */
export class DevicePoller {
  readonly device: DeviceSpec;
  readonly #options: DevicePollerOptions;
  readonly #log: Logger;
  readonly #breaker: CircuitBreaker;
  #plan: PlannedRequest[];
  #busy: Promise<void> | undefined;
  readonly #nullState = new Map<Metric, NullReason | undefined>();
  #lastError: string | undefined;

  constructor(options: DevicePollerOptions) {
    this.#options = options;
    this.device = options.device;
    this.#log = options.log.child({ device: options.device.id, loc_id: options.device.locId });
    this.#plan = planRequests(options.device.registers, options.maxGap);
    this.#breaker = new CircuitBreaker({ basePauseMs: Math.max(2 * options.device.pollIntervalMs, 1_000) });
  }

  get plan(): readonly PlannedRequest[] {
    return this.#plan;
  }

  /** Resolves when the poll in progress (if any) has finished. */
  idle(): Promise<void> {
    return this.#busy ?? Promise.resolve();
  }

  /** Starts the poll scheduled for `scheduledAt` (monotonic ms) unless the previous one is still running. */
  poll(scheduledAt: number): void {
    if (this.#busy) {
      this.#options.metrics.pollsSkipped.inc({ device: this.device.id });
      this.#options.endpoint.overrun(this.device.id);
      return;
    }
    if (!this.#breaker.allows(performance.now())) return;
    this.#busy = this.#poll(scheduledAt)
      .catch((error: unknown) => this.#log.error({ err: error }, 'poll crashed'))
      .finally(() => {
        this.#busy = undefined;
      });
  }

  async #poll(scheduledAt: number): Promise<void> {
    const { device, endpoint, metrics } = this.#options;
    const values = new Map<Metric, DecodedValue>();
    const queue = [...this.#plan];
    const kept: PlannedRequest[] = [];
    let planChanged = false;
    let arrivedAt = 0;
    let arrivedMono = 0;
    let answered = false;
    let failure: Error | undefined;
    const lowPriority = this.#breaker.failures > 0;
    for (let index = 0; index < queue.length; index += 1) {
      const request = queue[index];
      try {
        const response = await endpoint.read(device.unitId, request.table, request.address, request.length, device.timeoutMs, lowPriority);
        answered = true;
        arrivedAt = Math.max(arrivedAt, response.arrivedAt);
        arrivedMono = Math.max(arrivedMono, response.arrivedMono);
        kept.push(request);
        for (const register of request.registers) values.set(register.metric, decodeRegister(wordsOf(response.data, request, register), register));
      } catch (error) {
        const halves = error instanceof ModbusExceptionError && error.modbusCode === 2 ? splitRequest(request) : undefined;
        if (halves) {
          // The device does not implement part of the span: read the halves now and keep the split.
          queue.splice(index + 1, 0, ...halves);
          planChanged = true;
          continue;
        }
        failure = error as Error;
        kept.push(request);
        if (!(error instanceof ModbusExceptionError)) {
          // A timeout or a lost connection: the rest of the plan would only wait for the same.
          kept.push(...queue.slice(index + 1));
          break;
        }
      }
    }
    if (planChanged) {
      this.#plan = kept;
      this.#log.warn({ plan: kept.map((request) => `${request.table}:${request.address}+${request.length}`) }, 'device refused a coalesced read (exception 2); reading it in smaller requests from now on');
    }
    const now = Date.now();
    if (!answered) {
      const result = failure instanceof ModbusTimeoutError ? 'timeout' : 'error';
      metrics.polls.inc({ device: device.id, result });
      const wasOpen = this.#breaker.open;
      this.#breaker.failure(performance.now());
      if (this.#breaker.open && !wasOpen) this.#log.warn('device keeps failing: polling it less often until a probe succeeds');
      this.#noteError(failure?.message ?? 'no response');
      this.#options.onOutcome({ deviceId: device.id, ok: false, at: now, error: failure?.message ?? 'no response' });
      return;
    }
    if (this.#breaker.open) this.#log.info('device answers again');
    this.#breaker.success();
    metrics.polls.inc({ device: device.id, result: 'ok' });
    metrics.pollDuration.observe({ endpoint: endpoint.key }, Math.max(0, arrivedMono - scheduledAt) / 1000);
    metrics.lastSuccess.set({ device: device.id }, arrivedAt / 1000);
    const value = (metric: Metric): number | null => {
      const register = device.registers.find((candidate) => candidate.metric === metric);
      if (!register) return null;
      const decoded: DecodedValue = values.get(metric) ?? { value: null, reason: 'read_failed' };
      this.#noteNull(metric, decoded.reason);
      if (decoded.reason) metrics.nullValues.inc({ metric, reason: decoded.reason });
      return decoded.value;
    };
    if (this.#lastError !== undefined && !failure) {
      this.#log.info('device polled successfully again');
      this.#lastError = undefined;
    }
    if (failure) this.#noteError(failure.message);
    const readingValues = {} as Record<Metric, number | null>;
    for (const metric of METRICS) readingValues[metric] = value(metric);
    this.#options.onReading({ locId: device.locId, captureMs: arrivedAt, values: readingValues });
    this.#options.onOutcome({ deviceId: device.id, ok: true, at: arrivedAt, ...(failure ? { error: failure.message } : {}) });
  }

  #noteNull(metric: Metric, reason: NullReason | undefined): void {
    if (this.#nullState.get(metric) === reason) return;
    const previous = this.#nullState.get(metric);
    this.#nullState.set(metric, reason);
    if (reason) this.#log.warn({ metric, reason }, 'metric stored as NULL');
    else if (previous) this.#log.info({ metric }, 'metric valid again');
  }

  #noteError(message: string): void {
    if (this.#lastError === message) return;
    this.#lastError = message;
    this.#log.warn({ error: message }, 'poll failed');
  }
}
