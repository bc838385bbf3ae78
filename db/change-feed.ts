import { sql, type Kysely, type Transaction } from 'kysely';
import { hourlyRowFields, isoHour } from './hourly-row.js';
import type { Database } from './schema.js';

/**
 * The change feed of the hourly table (migration 0006): rows and tombstones in revision order,
 * read so that a consumer never skips a revision, whatever order writers commit in.
 *
 * Revisions are drawn when a transaction writes, not when it commits: while a writer that drew 5
 * is still open, another may commit 6. Each writer registers, before its first draw, the
 * sequence's last value L0 in an advisory lock (every revision it draws is > L0); the feed serves
 * only revisions up to the lowest L0 still registered (`temperature_revision_horizon()`). The
 * horizon is read in one statement and the rows in a LATER statement: under READ COMMITTED the
 * rows' snapshot is then taken after the lock scan, so every writer that the scan did not see
 * either had committed (visible to the snapshot: PostgreSQL releases locks after a commit is
 * visible) or draws revisions above the horizon. Never read both in one snapshot taken earlier
 * (no REPEATABLE READ transaction around them).
 *
 * Cost of correctness: a long-open writing transaction holds the feed at its L0 until it ends;
 * `held` says so. The aggregator commits per batch (runs) and per plant day (backfill).
 */

/** What produced a version of an hourly row (the history's `change_cause` and `superseded_by`). */
export const CHANGE_CAUSES = ['scheduled-run', 'late-data', 'threshold-change', 'backfill', 'verify-repair', 'prune', 'manual', 'migration'] as const;
export type ChangeCause = (typeof CHANGE_CAUSES)[number];
/** The causes a writer declares; the trigger derives late-data and threshold-change from a scheduled run's change. */
export type WriterCause = 'scheduled-run' | 'backfill' | 'verify-repair' | 'prune';

/**
 * Declares, for the rest of the transaction, what its hourly changes are and the audit entry that
 * records them: the revision trigger stamps them on the rows and their history.
 */
export async function setChangeCause(trx: Transaction<Database>, cause: WriterCause, auditId?: number): Promise<void> {
  await sql`SELECT set_config('plant_climate.change_cause', ${cause}, true), set_config('plant_climate.change_audit_id', ${auditId === undefined ? '' : String(auditId)}, true)`.execute(
    trx,
  );
}

export interface ChangeHorizon {
  /** The last revision drawn. */
  readonly last: number;
  /** Revisions up to this one are settled: none below it can still commit. */
  readonly safe: number;
  /** Open transactions that drew revisions. */
  readonly writers: number;
  /** Tombstones up to this revision were removed by retention: a cursor below it may have missed a deletion. */
  readonly prunedThrough: number;
}

export async function readChangeHorizon(db: Kysely<Database>): Promise<ChangeHorizon> {
  const { rows } = await sql<{ last_revision: number; safe_revision: number; writers: number; pruned_through: number }>`
    SELECT h.last_revision, h.safe_revision, h.writers, (SELECT tombstones_pruned_through FROM aggregator_state) AS pruned_through
    FROM temperature_revision_horizon() AS h`.execute(db);
  const row = rows[0];
  return { last: row?.last_revision ?? 0, safe: row?.safe_revision ?? 0, writers: row?.writers ?? 0, prunedThrough: row?.pruned_through ?? 0 };
}

/** A cursor older than what retention removed: the consumer must start over from after=0. */
export class CursorTooOldError extends Error {
  constructor(
    readonly after: number,
    readonly prunedThrough: number,
  ) {
    super(`cursor too old: deletions up to revision ${prunedThrough} were removed by retention (HISTORY_RETENTION), after=${after} may have missed some; restart from after=0`);
    this.name = 'CursorTooOldError';
  }
}

export interface ChangePage {
  /** The entries as a JSON array, made by PostgreSQL. */
  readonly json: string;
  readonly count: number;
  /** The last revision served, or `after` when nothing was. */
  readonly nextAfter: number;
  readonly horizon: ChangeHorizon;
  /** Committed revisions above `after` wait for an open writer (the feed is held at horizon.safe). */
  readonly held: boolean;
}

/** The upsert entry of the stored rows of `alias` (over `temperature`): what the feed serves and what a consumer rebuilds. */
export const upsertEntry = (alias: string) => sql`SELECT 'upsert'::text AS op, ${sql.ref(`${alias}.revision`)} AS revision, ${hourlyRowFields(alias)}`;

/** One page of changes after `after`: upserts and deletions with revisions in (after, safe], in revision order. */
export async function readChanges(db: Kysely<Database>, options: { after: number; limit: number }): Promise<ChangePage> {
  const { after, limit } = options;
  // Statement 1: the horizon. Statement 2 (below) reads the rows in a newer snapshot.
  const horizon = await readChangeHorizon(db);
  if (after > 0 && after < horizon.prunedThrough) throw new CursorTooOldError(after, horizon.prunedThrough);
  if (horizon.safe <= after) return { json: '[]', count: 0, nextAfter: after, horizon, held: horizon.last > horizon.safe };
  const { rows } = await sql<{ json: string; count: number; last: number | null }>`
    WITH upserts AS (
      SELECT t.revision, row_to_json(e)::text AS entry FROM temperature t CROSS JOIN LATERAL (${upsertEntry('t')}) AS e
      WHERE t.revision > ${after} AND t.revision <= ${horizon.safe} ORDER BY t.revision LIMIT ${limit}
    ),
    deletes AS (
      SELECT s.revision, row_to_json(e)::text AS entry FROM temperature_tombstone s
      CROSS JOIN LATERAL (SELECT 'delete'::text AS op, s.revision, s.loc_id, ${isoHour(sql`s.bucket`)} AS bucket) AS e
      WHERE s.revision > ${after} AND s.revision <= ${horizon.safe} ORDER BY s.revision LIMIT ${limit}
    ),
    page AS (SELECT * FROM (SELECT * FROM upserts UNION ALL SELECT * FROM deletes) AS c ORDER BY revision LIMIT ${limit})
    SELECT coalesce('[' || string_agg(entry, ',' ORDER BY revision) || ']', '[]') AS json, count(*)::integer AS count, max(revision) AS last FROM page`.execute(db);
  const row = rows[0];
  const nextAfter = row?.last ?? after;
  return { json: row?.json ?? '[]', count: row?.count ?? 0, nextAfter, horizon, held: horizon.last > horizon.safe };
}

/** The hourly table as the feed's upsert entries in key order (what a consumer that followed the feed holds). */
export async function hourlyTableEntries(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ entry: string }>`
    SELECT row_to_json(e)::text AS entry FROM temperature t CROSS JOIN LATERAL (${upsertEntry('t')}) AS e ORDER BY t.loc_id, t.bucket`.execute(db);
  return rows.map((row) => row.entry);
}

/**
 * Removes history versions and tombstones older than `before` and records the highest tombstone
 * revision removed, so a feed cursor below it is refused (410) instead of silently missing a
 * deletion. Returns what was removed.
 */
export async function pruneChangeHistory(db: Kysely<Database>, before: Date): Promise<{ versions: number; tombstones: number; prunedThrough: number }> {
  const { rows } = await sql<{ versions: number; tombstones: number; pruned_through: number }>`
    WITH versions AS (DELETE FROM temperature_history WHERE superseded_at < ${before} RETURNING 1),
    tombstones AS (DELETE FROM temperature_tombstone WHERE deleted_at < ${before} RETURNING revision),
    state AS (
      UPDATE aggregator_state SET tombstones_pruned_through = greatest(tombstones_pruned_through, (SELECT coalesce(max(revision), 0) FROM tombstones))
      RETURNING tombstones_pruned_through
    )
    SELECT (SELECT count(*) FROM versions)::integer AS versions, (SELECT count(*) FROM tombstones)::integer AS tombstones,
           (SELECT tombstones_pruned_through FROM state) AS pruned_through`.execute(db);
  const row = rows[0];
  return { versions: row?.versions ?? 0, tombstones: row?.tombstones ?? 0, prunedThrough: row?.pruned_through ?? 0 };
}
