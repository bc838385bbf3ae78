import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../../db/index.js';

export interface CheckedVersion {
  readonly version: string;
  /** The database snapshot the version was read in (pg_current_snapshot() as text). */
  readonly snapshot: string;
}

/**
 * The version `versionSql` computes now, skipping the work when nothing can have changed since
 * `known` was read: two snapshots that are equal (same xmin, same next transaction id, same
 * transactions in progress) see exactly the same committed data, so a version read in the first
 * is the version in the second. One statement, so one snapshot: the CASE runs the version query
 * only when the snapshot moved on (any write transaction started or ended since). Strict as
 * reading the version every time, and on a database nobody is writing to, a cache check costs a
 * round trip instead of reading the page's rows (bench/api-hourly.ts).
 */
export async function versionSince(db: Kysely<Database>, versionSql: RawBuilder<string>, known: CheckedVersion | undefined): Promise<CheckedVersion> {
  const { rows } = await sql<CheckedVersion>`
    SELECT CASE WHEN pg_current_snapshot()::text = ${known?.snapshot ?? null}::text THEN ${known?.version ?? null}::text ELSE ${versionSql} END AS version,
           pg_current_snapshot()::text AS snapshot`.execute(db);
  const row = rows[0];
  if (!row) throw new Error('the version check returned no row');
  return row;
}
