import pg from 'pg';
import type { Logger } from 'pino';

// Counts (count(*), sum over integers) arrive as int8 and numerics as strings; plant-climate's
// values fit a double, so they are parsed once here rather than at every call site.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));

export interface PoolOptions {
  readonly url: string;
  /** Every connection resolves unqualified names in this schema (`DB_SCHEMA`). */
  readonly schema: string;
  readonly max?: number;
  readonly applicationName: string;
  readonly log: Logger;
  /**
   * Server-side limits set on every session at connect time: a backstop that ends a statement
   * running too long and a session left idle inside a transaction (a cursor whose reader went
   * away), whatever the Node side does. Unset: no limit (the collector's COPY and the
   * aggregator's backfill are long on purpose).
   */
  readonly sessionTimeouts?: { readonly statementMs: number; readonly idleInTransactionMs: number };
}

/**
 * A pg.Pool whose connections have `search_path` set to the plant schema at connect time, so
 * every query (Kysely-built or the hand-written rollup SQL) names tables without a schema.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName,
    options: `-c search_path=${options.schema}`,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    ...(options.sessionTimeouts
      ? { statement_timeout: options.sessionTimeouts.statementMs, idle_in_transaction_session_timeout: options.sessionTimeouts.idleInTransactionMs }
      : {}),
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled it would crash
  // the process, while the next checkout simply reconnects.
  pool.on('error', (error) => options.log.warn({ err: error }, 'idle database connection lost'));
  return pool;
}

/** The URL with its password replaced, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
