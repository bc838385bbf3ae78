import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/index.js';

/** The raw-retention horizon: raw readings before it may be gone (aggregator_state.frozen_before). */
export async function readFrozenBefore(db: Kysely<Database>): Promise<Date | undefined> {
  const { rows } = await sql<{ frozen_before: Date | null }>`SELECT frozen_before FROM aggregator_state`.execute(db);
  return rows[0]?.frozen_before ?? undefined;
}
