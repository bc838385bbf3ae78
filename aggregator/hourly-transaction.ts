import { sql, type Kysely, type Transaction } from 'kysely';
import { setChangeCause, type Database, type WriterCause } from '../db/index.js';
import { readState } from './aggregator-state.js';

/**
 * Every write to the hourly table (a scheduled run's batch, a backfill's chunk, a prune moving
 * the horizon) happens in a transaction that first takes this one transaction-level advisory
 * lock. The lock is taken before anything else, and the other locks taken under it are either
 * dirty marks claimed with SKIP LOCKED (never waited for) or hourly rows no one else writes
 * without the lock: no cycle of waits is possible, so two aggregators, a run and a backfill, or
 * two backfills never deadlock; they interleave batch by batch. Each statement after the lock
 * takes a fresh snapshot, so the later writer of an hour always computes from the newer raw data.
 */
const HOURLY_WRITER_LOCK = 'plant-climate:hourly-writer';

export interface HourlyTransactionContext {
  readonly trx: Transaction<Database>;
  /** The raw-retention horizon in force; nothing before it may be rewritten. */
  readonly frozenBefore: Date | undefined;
}

/** What the transaction's hourly changes are, for their revisions' history (db/change-feed.ts). */
export interface HourlyChange {
  readonly cause: WriterCause;
  /** The audit entry that records the action (backfill, verify --repair). */
  readonly auditId?: number | undefined;
  /** Records the action's audit entry in this transaction, before any write, and gives its id (verify --repair). */
  readonly audit?: ((trx: Transaction<Database>) => Promise<number>) | undefined;
}

export async function inHourlyTransaction<T>(db: Kysely<Database>, change: HourlyChange, fn: (context: HourlyTransactionContext) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${HOURLY_WRITER_LOCK}))`.execute(trx);
    await setChangeCause(trx, change.cause, change.audit ? await change.audit(trx) : change.auditId);
    const { frozenBefore } = await readState(trx);
    return fn({ trx, frozenBefore });
  });
}
