import type { CompiledQuery } from 'kysely';
import type pg from 'pg';

/**
 * The rows of a query read `batchSize` at a time through a server-side cursor (DECLARE ... FETCH)
 * in a read-only transaction on a connection of its own, for results too big to hold (CSV
 * downloads of a year of hours).
 *
 * Unlike pg-cursor's protocol-level portal, the session sits `idle in transaction` between
 * batches, so the server's `idle_in_transaction_session_timeout` ends it if the process never
 * comes back, and `statement_timeout` applies to each FETCH. The connection goes back to the pool
 * when the iterator finishes or its `return()` is called (a `for await` left early, a stream
 * destroyed); a connection whose state is unknown after an error is discarded, not reused.
 */
export async function* cursorRows<R>(pool: pg.Pool, query: CompiledQuery<R>, batchSize = 1000): AsyncGenerator<R> {
  const client = await pool.connect();
  let clean = false;
  try {
    await client.query('BEGIN TRANSACTION READ ONLY');
    await client.query({ text: `DECLARE rows_out NO SCROLL CURSOR FOR ${query.sql}`, values: [...query.parameters] });
    for (;;) {
      const { rows } = await client.query<pg.QueryResultRow>(`FETCH ${batchSize} FROM rows_out`);
      yield* rows as R[];
      if (rows.length < batchSize) break;
    }
    await client.query('COMMIT');
    clean = true;
  } finally {
    if (!clean) {
      // Left early (or failed): end the transaction, which closes the cursor, before reuse.
      try {
        await client.query('ROLLBACK');
        clean = true;
      } catch {
        // The connection is broken or busy: discard it rather than hand it to another request.
      }
    }
    client.release(clean ? undefined : true);
  }
}
