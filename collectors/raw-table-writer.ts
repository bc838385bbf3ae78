import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { METRICS } from '../db/index.js';
import type { Reading } from './reading.js';

/** temperature_raw's columns as the collector writes them: the metrics in their one order. */
const COLUMNS = ['loc_id', 'capture_dt', ...METRICS, 'gateway_id'].join(', ');
const COPY_SQL = `COPY temperature_raw (${COLUMNS}) FROM STDIN`;

function field(value: number | null): string {
  return value === null ? '\\N' : String(value);
}

function escapeCopy(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

function copyText(readings: readonly Reading[], gateway: string): string {
  const gatewayField = escapeCopy(gateway);
  let text = '';
  for (const reading of readings) {
    // loc_id comes from the validated config; COPY text format still needs its specials escaped.
    let line = `${escapeCopy(reading.locId)}\t${new Date(reading.captureMs).toISOString()}`;
    for (const metric of METRICS) line += `\t${field(reading.values[metric])}`;
    text += `${line}\t${gatewayField}\n`;
  }
  return text;
}

const UNIQUE_VIOLATION = '23505';

/**
 * Runs `fn` on a pooled connection within `timeoutMs`: on expiry the connection is destroyed (a
 * half-open socket would otherwise hang for minutes) and the caller spools the batch, which is
 * harmless even if the commit did land. A failed connection is not reused: its state is unknown.
 */
async function onConnection<T>(pool: pg.Pool, timeoutMs: number, signal: AbortSignal | undefined, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  signal?.throwIfAborted();
  const client = await pool.connect();
  let timer: NodeJS.Timeout | undefined;
  let failed: Error | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const work = fn(client);
    work.catch(() => {});
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`database write timed out after ${timeoutMs} ms`)), timeoutMs);
      // A stopping collector does not wait for a slow write: the journal still holds its rows.
      onAbort = () => reject(new Error('database write abandoned: the collector is stopping'));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return await Promise.race([work, timeout]);
  } catch (error) {
    failed = error as Error;
    throw error;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    client.release(failed);
  }
}

async function copyNew(client: pg.PoolClient, gateway: string, readings: readonly Reading[]): Promise<number> {
  const copy = client.query(copyFrom(COPY_SQL));
  await pipeline(Readable.from([copyText(readings, gateway)]), copy);
  return copy.rowCount;
}

const INSERT_MISSING_SQL = `INSERT INTO temperature_raw (${COLUMNS})
     SELECT DISTINCT ON (r.loc_id, r.capture_dt) r.loc_id, r.capture_dt, ${METRICS.map((metric) => `r.${metric}`).join(', ')}, $1
       FROM unnest($2::text[], $3::timestamptz[], ${METRICS.map((_, index) => `$${index + 4}::float8[]`).join(', ')})
         AS r(loc_id, capture_dt, ${METRICS.join(', ')})
      ORDER BY r.loc_id, r.capture_dt
     ON CONFLICT (loc_id, capture_dt) DO NOTHING`;

async function insertMissing(client: pg.PoolClient, gateway: string, readings: readonly Reading[]): Promise<number> {
  const result = await client.query(INSERT_MISSING_SQL, [
    gateway,
    readings.map((reading) => reading.locId),
    readings.map((reading) => new Date(reading.captureMs).toISOString()),
    ...METRICS.map((metric) => readings.map((reading) => reading.values[metric])),
  ]);
  return result.rowCount ?? 0;
}

/**
 * Writes a batch of readings to temperature_raw; returns how many were new. Fresh readings go
 * with one COPY, the fastest bulk path PostgreSQL has. COPY cannot skip rows that exist, so a
 * batch that may repeat stored readings (a spool replay after an outage, a re-seed) and a batch
 * whose COPY met the unique key go through one INSERT … SELECT FROM unnest(…) ON CONFLICT DO
 * NOTHING instead, so nothing is stored twice. Either way the batch is one statement: the
 * dirty-hour triggers fire once per batch. (bench/collector-write-path.ts measures both paths
 * against a plain COPY.)
 */
export async function writeReadings(
  pool: pg.Pool,
  gateway: string,
  readings: readonly Reading[],
  timeoutMs: number,
  options: { readonly mayRepeat?: boolean; readonly signal?: AbortSignal } = {},
): Promise<number> {
  if (!options.mayRepeat) {
    try {
      return await onConnection(pool, timeoutMs, options.signal, (client) => copyNew(client, gateway, readings));
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
    }
  }
  return onConnection(pool, timeoutMs, options.signal, (client) => insertMissing(client, gateway, readings));
}

/** The upsert path alone, for the benchmark. */
export async function writeReadingsThatMayRepeat(pool: pg.Pool, gateway: string, readings: readonly Reading[], timeoutMs: number): Promise<number> {
  return writeReadings(pool, gateway, readings, timeoutMs, { mayRepeat: true });
}

/** A plain COPY straight into temperature_raw: the benchmark's baseline. */
export async function copyReadingsPlain(pool: pg.Pool, gateway: string, readings: readonly Reading[]): Promise<void> {
  const client = await pool.connect();
  try {
    const copy = client.query(copyFrom(COPY_SQL));
    await pipeline(Readable.from([copyText(readings, gateway)]), copy);
  } finally {
    client.release();
  }
}
