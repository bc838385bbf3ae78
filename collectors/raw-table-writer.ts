import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { METRICS, attachedRawPartitions, rawPartitionName } from '../db/index.js';
import type { Reading } from './reading.js';

/** temperature_raw's columns as the collector writes them: the metrics in their one order. */
const COLUMNS = ['loc_id', 'capture_dt', ...METRICS, 'gateway_id'].join(', ');
const copySql = (table: string) => `COPY ${table} (${COLUMNS}) FROM STDIN`;
const PARENT = 'temperature_raw';

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

/** How long a day found without a partition is written through the parent before the catalogue is asked again. */
const MISSING_PARTITION_RECHECK_MS = 60_000;

/**
 * What one pool's writer knows of temperature_raw's day partitions. A partition found stays known
 * until a COPY into it fails; a day found without one (not created yet, a transmitter dated 2031,
 * pruned) is written through the parent, to the default partition, and looked up again after
 * MISSING_PARTITION_RECHECK_MS. So a batch of known days costs no catalogue read at all.
 */
class DayPartitions {
  private readonly present = new Set<string>();
  private readonly missingUntil = new Map<string, number>();

  /** The names among `names` that are attached partitions, asking the catalogue only about days not known. */
  async resolve(client: pg.PoolClient, names: readonly string[]): Promise<Set<string>> {
    const now = performance.now();
    const unknown = names.filter((name) => !this.present.has(name) && (this.missingUntil.get(name) ?? 0) <= now);
    if (unknown.length > 0) {
      const found = await attachedRawPartitions(client, unknown);
      for (const name of unknown) {
        if (found.has(name)) {
          this.present.add(name);
          this.missingUntil.delete(name);
        } else {
          this.missingUntil.set(name, now + MISSING_PARTITION_RECHECK_MS);
        }
      }
    }
    return new Set(names.filter((name) => this.present.has(name)));
  }

  /** A COPY into these failed as if they were not (or no longer) the day's partition: write through the parent for a while. */
  forget(names: Iterable<string>): void {
    const until = performance.now() + MISSING_PARTITION_RECHECK_MS;
    for (const name of names) {
      this.present.delete(name);
      this.missingUntil.set(name, until);
    }
  }
}

const dayPartitions = new WeakMap<pg.Pool, DayPartitions>();

function dayPartitionsOf(pool: pg.Pool): DayPartitions {
  let partitions = dayPartitions.get(pool);
  if (!partitions) {
    partitions = new DayPartitions();
    dayPartitions.set(pool, partitions);
  }
  return partitions;
}

/**
 * A COPY into a day partition that failed because of the partition itself, not the rows: it was
 * dropped (42P01), the writer may not write it (42501: created by hand, `plant-climate roles` not
 * re-run), or its bounds are not the day its name says (23514 without a constraint name: the
 * partition constraint; a CHECK constraint of the table is named, and is the rows' fault). The
 * rows go through the parent instead, where a real rejection shows again.
 */
function isPartitionMismatch(error: unknown): boolean {
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '42P01' || code === '42501' || (code === '23514' && constraint === undefined);
}

async function copyInto(client: pg.PoolClient, table: string, gateway: string, readings: readonly Reading[]): Promise<number> {
  const copy = client.query(copyFrom(copySql(table)));
  await pipeline(Readable.from([copyText(readings, gateway)]), copy);
  return copy.rowCount;
}

/**
 * Fresh readings go straight into their UTC day's partition, one COPY per day in the batch (one
 * transaction when there are several): PostgreSQL gives up COPY's multi-row inserts for the
 * partitioned parent, whose statement triggers have transition tables, but not for a plain
 * partition, which carries the same triggers (migration 0005), so each hour is marked once.
 * Days without a partition go through the parent, to the default partition.
 */
async function copyNew(client: pg.PoolClient, partitions: DayPartitions, gateway: string, readings: readonly Reading[]): Promise<number> {
  const byDay = new Map<string, Reading[]>();
  for (const reading of readings) {
    const name = rawPartitionName(reading.captureMs);
    const group = byDay.get(name);
    if (group) group.push(reading);
    else byDay.set(name, [reading]);
  }
  const present = await partitions.resolve(client, [...byDay.keys()]);
  const targets = new Map<string, Reading[]>();
  for (const [name, group] of byDay) {
    const table = present.has(name) ? name : PARENT;
    const rows = targets.get(table);
    if (rows) rows.push(...group);
    else targets.set(table, group);
  }
  if (!present.size) return copyInto(client, PARENT, gateway, readings);
  // Several COPYs are one transaction, so that a batch is stored whole or not at all.
  const several = targets.size > 1;
  if (several) await client.query('BEGIN');
  try {
    let stored = 0;
    for (const [table, rows] of targets) stored += await copyInto(client, table, gateway, rows);
    if (several) await client.query('COMMIT');
    return stored;
  } catch (error) {
    if (!isPartitionMismatch(error)) throw error; // the connection is discarded, its transaction with it
    if (several) await client.query('ROLLBACK');
    partitions.forget(present);
    return copyInto(client, PARENT, gateway, readings);
  }
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
 * by COPY, the fastest bulk path PostgreSQL has, into their day's partition (copyNew). COPY cannot skip rows that exist, so a
 * batch that may repeat stored readings (a spool replay after an outage, a re-seed) and a batch
 * whose COPY met the unique key go through one INSERT … SELECT FROM unnest(…) ON CONFLICT DO
 * NOTHING instead, through the parent, so nothing is stored twice. Either way the batch is one
 * transaction, and the dirty-hour triggers fire once per statement: once per day of the batch. (bench/collector-write-path.ts measures both paths
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
      const partitions = dayPartitionsOf(pool);
      return await onConnection(pool, timeoutMs, options.signal, (client) => copyNew(client, partitions, gateway, readings));
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

/** A plain COPY straight into temperature_raw, or into `table` (one of its partitions): the benchmarks' baseline. */
export async function copyReadingsPlain(pool: pg.Pool, gateway: string, readings: readonly Reading[], table = PARENT): Promise<void> {
  const client = await pool.connect();
  try {
    await copyInto(client, table, gateway, readings);
  } finally {
    client.release();
  }
}
