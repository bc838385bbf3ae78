import modbusSerial from 'modbus-serial';
import type { Logger } from '../runtime/logger.js';
import type { LineSpec, RegisterTable } from './gateway-types.js';
import type { CollectorMetrics } from './collector-metrics.js';
import { lineGapMs } from './line-budget.js';
import { rtuOverTcpPort, serialRtuPort } from './rtu-ports.js';

export class ModbusTimeoutError extends Error {
  override readonly name = 'ModbusTimeoutError';
}

export class ModbusExceptionError extends Error {
  override readonly name = 'ModbusExceptionError';
  constructor(
    readonly modbusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class EndpointUnavailableError extends Error {
  override readonly name = 'EndpointUnavailableError';
}

export interface ReadResult {
  readonly data: readonly number[];
  /** Date.now() when the response arrived (capture_dt). */
  readonly arrivedAt: number;
  /** performance.now() when the response arrived (for lateness, which a clock step must not skew). */
  readonly arrivedMono: number;
}

interface Job {
  readonly unitId: number;
  readonly table: RegisterTable;
  readonly address: number;
  readonly length: number;
  readonly timeoutMs: number;
  resolve(result: ReadResult): void;
  reject(error: Error): void;
}

// modbus-serial is CommonJS whose `default` points back at the class itself; under NodeNext the
// default import is the module object, so the class is reached through it.
const ModbusRTU = modbusSerial.default;
type Client = InstanceType<typeof ModbusRTU>;

type ModbusCallback = (error: NodeJS.ErrnoException | null, response: { data: number[] } | undefined) => void;
interface CallbackSlot {
  current: ModbusCallback | undefined;
}

/**
 * modbus-serial keeps each transaction, callback included, in a table of 256 slots per connection
 * (its TCP transaction ids wrap at 256) and never removes it, only overwrites it 256 requests
 * later. A callback that closed over the request would keep its job, promises, timer and response
 * alive that long: at 500 devices per second over 50 connections, 12,800 requests and about 13 MB
 * of heap (bench/results/collector.md, "RSS"). So modbus-serial gets this thin callback, made
 * outside the request's scope, and the request empties the slot once it is settled.
 */
function detachedCallback(slot: CallbackSlot): ModbusCallback {
  return (error, response) => slot.current?.(error, response);
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Timeouts in a row, from every unit, after which the socket is presumed half-open. */
const TIMEOUTS_BEFORE_RECONNECT = 3;

/** How often a line's busy share is published (plant_collector_line_utilization): the window it covers. */
const UTILIZATION_WINDOW_MS = 5_000;
/** At most one "line cannot keep up" log line per line per minute (each with the count since). */
const OVERRUN_LOG_EVERY_MS = 60_000;

/**
 * One line, shared by every unit id on it: a Modbus TCP connection to host:port, or an RTU line
 * (a serial device server's TCP connection, or a serial port). Requests run one at a time
 * (modbus-serial matches a response to the newest transaction and keeps one unit id per client,
 * and an RS-485 bus carries one frame at a time anyway), each with its own timeout, since
 * modbus-serial leaves a request unsettled forever when the socket closes under it. On an RTU
 * line the next request waits out the inter-frame silence of the line's baud rate plus the
 * configured turnaround delay after the previous answer (or timeout). Requests of units that are
 * failing go to a second lane served only when no healthy unit is waiting, so a dead unit's
 * timeouts land after its neighbours' reads instead of before them.
 */
export class ModbusEndpoint {
  readonly key: string;
  readonly line: LineSpec;
  readonly #log: Logger;
  readonly #metrics: CollectorMetrics;
  readonly #lanes: [Job[], Job[]] = [[], []];
  /** Silence the line keeps between an answer (or a timeout) and the next request (RTU only). */
  readonly #gapMs: number;
  #client: Client | undefined;
  #running = false;
  #inFlight: Job | undefined;
  #failedConnects = 0;
  #nextConnectAt = 0;
  #timeoutsInRow = 0;
  #closed = false;
  #lastConnectError: string | undefined;
  /** performance.now() before which no request may be written (the line's silence). */
  #quietUntil = 0;
  #busyMs = 0;
  #windowStart = performance.now();
  readonly #windowTimer: NodeJS.Timeout;
  #overruns = 0;
  #lastOverrunLog = Number.NEGATIVE_INFINITY;

  constructor(line: LineSpec, log: Logger, metrics: CollectorMetrics) {
    this.line = line;
    this.key = line.key;
    this.#log = log.child({ line: this.key, transport: line.transport });
    this.#metrics = metrics;
    this.#gapMs = line.transport === 'tcp' ? 0 : lineGapMs(line);
    this.#windowTimer = setInterval(() => this.#publishUtilization(), UTILIZATION_WINDOW_MS).unref();
  }

  /** Share of the last window the line was busy with requests and their silences. */
  #publishUtilization(): void {
    const now = performance.now();
    const elapsed = now - this.#windowStart;
    if (elapsed <= 0) return;
    this.#metrics.lineUtilization.set({ line: this.key }, Math.min(1, this.#busyMs / elapsed));
    this.#busyMs = 0;
    this.#windowStart = now;
  }

  /**
   * A device's poll came due while its previous one was still running. When requests are queued
   * for the line, the line cannot keep up with the configured intervals: counted and logged
   * (rate-limited), never absorbed by stretching the interval.
   */
  overrun(deviceId: string): void {
    // With nothing queued the device's previous poll is only waiting for its own answer (a timeout
    // longer than the interval): the device is slow, not the line (polls_skipped_total counts it).
    if (this.#lanes[0].length + this.#lanes[1].length === 0) return;
    this.#metrics.lineOverruns.inc({ line: this.key });
    this.#overruns += 1;
    const now = performance.now();
    if (now - this.#lastOverrunLog < OVERRUN_LOG_EVERY_MS) return;
    this.#lastOverrunLog = now;
    this.#log.warn(
      { device: deviceId, overruns: this.#overruns, queued: this.#lanes[0].length + this.#lanes[1].length },
      'line cannot keep up: polls come due before the previous ones got the line (see collector --check for its budget; lengthen poll_interval, move devices to another line, or raise the baud rate)',
    );
    this.#overruns = 0;
  }

  read(unitId: number, table: RegisterTable, address: number, length: number, timeoutMs: number, lowPriority: boolean): Promise<ReadResult> {
    if (this.#closed) return Promise.reject(new EndpointUnavailableError(`${this.key} is closed`));
    return new Promise<ReadResult>((resolve, reject) => {
      this.#lanes[lowPriority ? 1 : 0].push({ unitId, table, address, length, timeoutMs, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#running) return;
    const job = this.#lanes[0].shift() ?? this.#lanes[1].shift();
    if (!job) return;
    this.#running = true;
    void this.#run(job).finally(() => {
      this.#running = false;
      this.#pump();
    });
  }

  async #run(job: Job): Promise<void> {
    const fn = job.table === 'input' ? 'read_input_registers' : 'read_holding_registers';
    let started: number | undefined;
    try {
      const client = await this.#connected(job.timeoutMs);
      // A timer may fire up to a millisecond or more early on the monotonic clock (libuv rounds to
      // whole milliseconds from a loop time cached before the answer arrived), so re-arm until the
      // silence has really passed: a short silence lets a slave on the bus miss the frame's start.
      for (let wait = this.#quietUntil - performance.now(); wait > 0; wait = this.#quietUntil - performance.now()) {
        await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)));
      }
      started = performance.now();
      const result = await this.#request(client, job).finally(() => {
        const now = performance.now();
        this.#quietUntil = now + this.#gapMs;
        this.#busyMs += now - (started ?? now) + this.#gapMs;
      });
      this.#timeoutsInRow = 0;
      this.#metrics.requests.inc({ function: fn, result: 'ok' });
      job.resolve(result);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      const result = failure instanceof ModbusExceptionError ? 'exception' : failure instanceof ModbusTimeoutError ? 'timeout' : 'error';
      this.#metrics.requests.inc({ function: fn, result });
      if (failure instanceof ModbusTimeoutError) {
        this.#timeoutsInRow += 1;
        // A serial port cannot be half-open: on a bus, timeouts in a row are dead units, not a dead link.
        if (this.#timeoutsInRow >= TIMEOUTS_BEFORE_RECONNECT && this.line.transport !== 'rtu') {
          this.#log.warn({ timeouts: this.#timeoutsInRow }, 'no unit answers: reconnecting');
          this.#timeoutsInRow = 0;
          this.#drop();
        }
      } else if (!(failure instanceof ModbusExceptionError)) {
        this.#timeoutsInRow = 0;
      }
      job.reject(failure);
    }
  }

  #request(client: Client, job: Job): Promise<ReadResult> {
    return new Promise<ReadResult>((resolve, reject) => {
      let settled = false;
      const handler: CallbackSlot = { current: undefined };
      const settle = (error: Error | undefined, data?: readonly number[]) => {
        if (settled) return;
        settled = true;
        handler.current = undefined;
        clearTimeout(timer);
        this.#inFlight = undefined;
        if (error) reject(error);
        else resolve({ data: data ?? [], arrivedAt: Date.now(), arrivedMono: performance.now() });
      };
      const timer = setTimeout(() => settle(new ModbusTimeoutError(`unit ${job.unitId} did not answer within ${job.timeoutMs} ms`)), job.timeoutMs);
      this.#inFlight = { ...job, resolve: (result) => settle(undefined, result.data), reject: (error) => settle(error) };
      // modbus-serial's own timer, set too so that it forgets the transaction of an unanswered request.
      client.setTimeout(job.timeoutMs + 50);
      handler.current = (error, response) => {
        if (error) {
          const code = (error as { modbusCode?: unknown }).modbusCode;
          if (typeof code === 'number') settle(new ModbusExceptionError(code, `unit ${job.unitId}: ${error.message}`));
          else if (error.name === 'TransactionTimedOutError') settle(new ModbusTimeoutError(`unit ${job.unitId} did not answer within ${job.timeoutMs} ms`));
          else settle(new EndpointUnavailableError(`${this.key}: ${error.message}`));
          return;
        }
        settle(undefined, response?.data ?? []);
      };
      try {
        if (job.table === 'input') client.writeFC4(job.unitId, job.address, job.length, detachedCallback(handler));
        else client.writeFC3(job.unitId, job.address, job.length, detachedCallback(handler));
      } catch (error) {
        settle(new EndpointUnavailableError(`${this.key}: ${(error as Error).message}`));
      }
    });
  }

  async #connected(timeoutMs: number): Promise<Client> {
    if (this.#client?.isOpen) return this.#client;
    // Backoff runs on the monotonic clock: a wall-clock step must not stretch it.
    const now = performance.now();
    if (now < this.#nextConnectAt) {
      throw new EndpointUnavailableError(`${this.key} unreachable (${this.#lastConnectError ?? 'not connected'}); next attempt in ${Math.round(this.#nextConnectAt - now)} ms`);
    }
    this.#drop();
    let client: Client;
    let opened: Promise<unknown>;
    try {
      [client, opened] = this.#open();
    } catch (error) {
      throw new EndpointUnavailableError(`${this.key}: ${(error as Error).message}`);
    }
    // Without a listener an 'error' event would end the process.
    client.on('error', (error: unknown) => this.#log.debug({ err: error }, 'modbus client error'));
    const connectTimeoutMs = Math.max(timeoutMs, 1_000);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opened,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`connect timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
        }),
      ]);
    } catch (error) {
      clearTimeout(timer);
      this.#dispose(client);
      this.#failedConnects += 1;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.#failedConnects - 1, 10));
      // Jitter keeps many gateways (or endpoints) from reconnecting to a rebooted switch in step.
      const delay = Math.round(backoff * (0.5 + Math.random()));
      this.#nextConnectAt = performance.now() + delay;
      const message = (error as Error).message;
      if (this.#lastConnectError !== message) this.#log.warn({ err: error, retryInMs: delay }, 'cannot connect');
      this.#lastConnectError = message;
      throw new EndpointUnavailableError(`${this.key}: ${message}`);
    }
    clearTimeout(timer);
    if (this.#failedConnects > 0 || this.#lastConnectError) this.#log.info('connected again');
    this.#failedConnects = 0;
    this.#lastConnectError = undefined;
    client.on('close', () => {
      if (this.#client !== client) return;
      this.#log.warn('connection closed by the device');
      this.#client = undefined;
      this.#inFlight?.reject(new EndpointUnavailableError(`${this.key}: connection closed`));
    });
    this.#client = client;
    return client;
  }

  /** A client for the line's transport, and its connection or port opening. */
  #open(): [Client, Promise<unknown>] {
    const line = this.line;
    const onStale = (bytes: number) => this.#metrics.lineStaleBytes.inc({ line: this.key }, bytes);
    if (line.transport === 'tcp') {
      const client = new ModbusRTU();
      return [client, client.connectTCP(line.host, { port: line.port })];
    }
    const client = new ModbusRTU(line.transport === 'rtu-over-tcp' ? rtuOverTcpPort(line.host, line.port, onStale) : serialRtuPort(line.device, line.serial, onStale));
    return [client, new Promise<void>((resolve, reject) => client.open((error: Error | null | undefined) => (error ? reject(error) : resolve())))];
  }

  #dispose(client: Client): void {
    client.destroy(() => {});
    // modbus-serial's destroy() skips a port without destroy(), which its serial port is: close it,
    // or the device stays open (and locked) until the process ends.
    if (this.line.transport === 'rtu' && client.isOpen) client.close(() => {});
  }

  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    if (client) this.#dispose(client);
    this.#inFlight?.reject(new EndpointUnavailableError(`${this.key}: connection dropped`));
  }

  /** Fails queued requests and closes the socket. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#windowTimer);
    for (const lane of this.#lanes) {
      for (const job of lane.splice(0)) job.reject(new EndpointUnavailableError(`${this.key} is closed`));
    }
    this.#drop();
  }
}
