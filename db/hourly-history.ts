import { sql, type Kysely } from 'kysely';
import { hourlyRowFields } from './hourly-row.js';
import type { Database } from './schema.js';

/**
 * The versions of one hourly row (migration 0006): the current one from `temperature` and every
 * superseded one from `temperature_history`, newest first, each with the revision range in which
 * it was current (`revision_to` NULL for the current version), what produced it (`cause`, and the
 * audit entry of a backfill or a repair) and what ended it.
 */
export async function hourlyHistoryJson(db: Kysely<Database>, locId: string, bucket: Date): Promise<{ json: string; versions: number }> {
  const { rows } = await sql<{ json: string; versions: number }>`
    WITH versions AS (
      SELECT t.revision AS revision_from, NULL::bigint AS revision_to, t.change_cause AS cause, t.change_audit_id AS audit_id, t.updated_at AS produced_at,
             NULL::timestamptz AS superseded_at, NULL::text AS superseded_by, NULL::bigint AS superseded_audit_id,
             (SELECT row_to_json(r) FROM (SELECT ${hourlyRowFields('t')}) AS r) AS row
      FROM temperature t WHERE t.loc_id = ${locId} AND t.bucket = ${bucket}
      UNION ALL
      SELECT h.revision_from, h.revision_to, h.change_cause, h.change_audit_id, h.updated_at, h.superseded_at, h.superseded_by, h.superseded_audit_id,
             (SELECT row_to_json(r) FROM (SELECT ${hourlyRowFields('h')}) AS r)
      FROM temperature_history h WHERE h.loc_id = ${locId} AND h.bucket = ${bucket}
    )
    SELECT coalesce(json_agg(v ORDER BY v.revision_from DESC), '[]')::text AS json, count(*)::integer AS versions
    FROM (
      SELECT revision_from, revision_to, revision_to IS NULL AS current, cause, audit_id,
             to_char(produced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS produced_at,
             to_char(superseded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS superseded_at,
             superseded_by, superseded_audit_id, row
      FROM versions
    ) AS v`.execute(db);
  return { json: rows[0]?.json ?? '[]', versions: rows[0]?.versions ?? 0 };
}
