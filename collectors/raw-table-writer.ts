import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Reading } from './reading.js';

function field(value: number | null): string {
  return value === null ? '\\N' : String(value);
}

function copyText(readings: readonly Reading[]): string {
  let text = '';
  for (const reading of readings) {
    // loc_id comes from the validated config; COPY text format still needs its specials escaped.
    const locId = reading.locId.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
    text += `${locId}\t${new Date(reading.captureMs).toISOString()}\t${field(reading.temperature)}\t${field(reading.humidity)}\t${field(reading.pcvTemperature)}\n`;
  }
  return text;
}

/**
 * Writes readings to temperature_raw in one statement: INSERT … SELECT FROM unnest(arrays) … ON
 * CONFLICT DO NOTHING, so a replayed batch stores nothing twice, the dirty-hour triggers fire once
 * per batch, and a batch costs one round trip (measured against COPY into a temp table + INSERT in
 * bench/collector-write-path.ts: the temp-table path needs four more round trips per batch).
 * Returns the number of rows that were new. `timeoutMs` bounds the write: on expiry the
 * connection is destroyed (a half-open socket would otherwise hang for minutes) and the caller
 * spools the batch, which is harmless even if the commit did land.
 */
export async function writeReadings(pool: pg.Pool, gateway: string, readings: readonly Reading[], timeoutMs: number): Promise<number> {
  const client = await pool.connect();
  let timer: NodeJS.Timeout | undefined;
  let failed: Error | undefined;
  try {
    const work = client.query(
      `INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
       SELECT DISTINCT ON (r.loc_id, r.capture_dt) r.loc_id, r.capture_dt, r.temperature, r.humidity, r.pcv_temperature, $6
         FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[])
           AS r(loc_id, capture_dt, temperature, humidity, pcv_temperature)
        ORDER BY r.loc_id, r.capture_dt
       ON CONFLICT (loc_id, capture_dt) DO NOTHING`,
      [
        readings.map((reading) => reading.locId),
        readings.map((reading) => new Date(reading.captureMs).toISOString()),
        readings.map((reading) => reading.temperature),
        readings.map((reading) => reading.humidity),
        readings.map((reading) => reading.pcvTemperature),
        gateway,
      ],
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`database write timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    work.catch(() => {});
    const result = await Promise.race([work, timeout]);
    return result.rowCount ?? 0;
  } catch (error) {
    failed = error as Error;
    throw error;
  } finally {
    clearTimeout(timer);
    // A failed or timed-out connection is not reused: its state is unknown.
    client.release(failed);
  }
}

/** A plain COPY straight into temperature_raw: the benchmark's baseline. */
export async function copyReadingsPlain(pool: pg.Pool, gateway: string, readings: readonly Reading[]): Promise<void> {
  const client = await pool.connect();
  try {
    const copy = client.query(copyFrom('COPY temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id) FROM STDIN'));
    const text = copyText(readings).replace(/\n/g, `\t${gateway}\n`);
    await pipeline(Readable.from([text]), copy);
  } finally {
    client.release();
  }
}
