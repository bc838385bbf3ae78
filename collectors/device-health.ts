import type pg from 'pg';
import type { Logger } from '../runtime/logger.js';
import type { DeviceSpec } from './gateway-config.js';
import type { PollOutcome } from './device-poller.js';

interface Health {
  readonly device: DeviceSpec;
  lastOkAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  consecutiveFailures: number;
  dirty: boolean;
}

/**
 * Keeps the contract's `device` table current for one gateway: outcomes are folded in memory and
 * written in one statement per period (the shortest poll interval), so each device row changes
 * at most once per poll interval and a slow or absent database never holds up a poll.
 */
export class DeviceHealth {
  readonly #pool: pg.Pool;
  readonly #gateway: string;
  readonly #log: Logger;
  readonly #health = new Map<string, Health>();
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;

  constructor(options: { pool: pg.Pool; gateway: string; devices: readonly DeviceSpec[]; log: Logger; periodMs: number }) {
    this.#pool = options.pool;
    this.#gateway = options.gateway;
    this.#log = options.log;
    for (const device of options.devices) {
      // Dirty from the start so that every configured device is listed, polled yet or not.
      this.#health.set(device.id, { device, lastOkAt: null, lastError: null, lastErrorAt: null, consecutiveFailures: 0, dirty: true });
    }
    this.#timer = setInterval(() => void this.write(), options.periodMs);
    this.#timer.unref();
  }

  record(outcome: PollOutcome): void {
    const health = this.#health.get(outcome.deviceId);
    if (!health) return;
    if (outcome.ok) {
      health.lastOkAt = outcome.at;
      health.consecutiveFailures = 0;
    } else {
      health.consecutiveFailures += 1;
    }
    if (outcome.error !== undefined) {
      health.lastError = outcome.error.slice(0, 500);
      health.lastErrorAt = outcome.at;
    }
    health.dirty = true;
  }

  /** Writes the devices that changed since the last write (skipped while one is running). */
  write(): Promise<void> {
    this.#writing ??= this.#write().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  async #write(): Promise<void> {
    const changed = [...this.#health.values()].filter((health) => health.dirty);
    if (changed.length === 0) return;
    for (const health of changed) health.dirty = false;
    const column = <T>(fn: (health: Health) => T): T[] => changed.map(fn);
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    try {
      await this.#pool.query(
        `INSERT INTO device AS d (gateway_id, device_id, loc_id, host, port, unit_id, last_ok_at, last_error, last_error_at, consecutive_failures, poll_interval_ms, updated_at)
         SELECT $1, u.device_id, u.loc_id, u.host, u.port, u.unit_id, u.last_ok_at, u.last_error, u.last_error_at, u.consecutive_failures, u.poll_interval_ms, now()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::timestamptz[], $8::text[], $9::timestamptz[], $10::int[], $11::int[])
             AS u(device_id, loc_id, host, port, unit_id, last_ok_at, last_error, last_error_at, consecutive_failures, poll_interval_ms)
         ON CONFLICT (gateway_id, device_id) DO UPDATE SET
           loc_id = excluded.loc_id, host = excluded.host, port = excluded.port, unit_id = excluded.unit_id, poll_interval_ms = excluded.poll_interval_ms,
           last_ok_at = COALESCE(excluded.last_ok_at, d.last_ok_at),
           last_error = COALESCE(excluded.last_error, d.last_error),
           last_error_at = COALESCE(excluded.last_error_at, d.last_error_at),
           consecutive_failures = excluded.consecutive_failures, updated_at = now()`,
        [
          this.#gateway,
          column((health) => health.device.id),
          column((health) => health.device.locId),
          column((health) => health.device.host),
          column((health) => health.device.port),
          column((health) => health.device.unitId),
          column((health) => iso(health.lastOkAt)),
          column((health) => health.lastError),
          column((health) => iso(health.lastErrorAt)),
          column((health) => health.consecutiveFailures),
          // What the hourly rows' expected_count is made of (db/hourly-row.ts).
          column((health) => Math.round(health.device.pollIntervalMs)),
        ],
      );
    } catch (error) {
      for (const health of changed) health.dirty = true;
      this.#log.debug({ err: error }, 'device table update failed; retrying next period');
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#writing;
    await this.write();
  }
}
