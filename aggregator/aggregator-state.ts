import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/index.js';

/** The aggregator's one row of durable state (migrations/0002-aggregator-state.ts). */
export interface AggregatorState {
  /** Raw-retention horizon: hours before it are frozen. `undefined` while nothing was pruned. */
  readonly frozenBefore: Date | undefined;
  readonly lastRunAt: Date | undefined;
  readonly lastVerifyAt: Date | undefined;
  readonly lastVerifyDifferences: number | undefined;
  /** Readings ever written into frozen hours (counted by a trigger, migration 0003). */
  readonly frozenLateReadings: number;
}

interface StateRow {
  frozen_before: Date | null;
  last_run_at: Date | null;
  last_verify_at: Date | null;
  last_verify_differences: number | null;
  frozen_late_readings: number;
}

export async function readState(db: Kysely<Database>): Promise<AggregatorState> {
  const { rows } = await sql<StateRow>`
    SELECT frozen_before, last_run_at, last_verify_at, last_verify_differences, frozen_late_readings FROM aggregator_state`.execute(db);
  const row = rows[0];
  return {
    frozenBefore: row?.frozen_before ?? undefined,
    lastRunAt: row?.last_run_at ?? undefined,
    lastVerifyAt: row?.last_verify_at ?? undefined,
    lastVerifyDifferences: row?.last_verify_differences ?? undefined,
    frozenLateReadings: row?.frozen_late_readings ?? 0,
  };
}

export async function recordRun(db: Kysely<Database>, at: Date): Promise<void> {
  await sql`UPDATE aggregator_state SET last_run_at = ${at}, updated_at = now()`.execute(db);
}

export async function recordVerify(db: Kysely<Database>, at: Date, differences: number): Promise<void> {
  await sql`UPDATE aggregator_state SET last_verify_at = ${at}, last_verify_differences = ${differences}, updated_at = now()`.execute(db);
}

/** Moves the horizon forward (never back: what was dropped stays dropped). Returns the horizon in force. */
export async function advanceFrozenBefore(db: Kysely<Database>, horizon: Date): Promise<Date> {
  const { rows } = await sql<{ frozen_before: Date }>`
    UPDATE aggregator_state
    SET frozen_before = greatest(coalesce(frozen_before, ${horizon}), ${horizon}), updated_at = now()
    RETURNING frozen_before`.execute(db);
  return rows[0]?.frozen_before ?? horizon;
}
