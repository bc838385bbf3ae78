import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';

export interface PipelineFacts {
  newestBucket: Date | null;
  dirtyHours: number;
  newestCapture: Date | null;
}

export async function pipelineFacts(db: Kysely<Database>): Promise<PipelineFacts> {
  // newest raw reading: max over each location's newest (index probes), not a scan of the table.
  const { rows } = await sql<{ newest_bucket: Date | null; dirty_hours: number; newest_capture: Date | null }>`
    WITH RECURSIVE raw_ids AS (
      (SELECT loc_id FROM temperature_raw ORDER BY loc_id LIMIT 1)
      UNION ALL
      SELECT (SELECT r.loc_id FROM temperature_raw r WHERE r.loc_id > raw_ids.loc_id ORDER BY r.loc_id LIMIT 1)
      FROM raw_ids WHERE raw_ids.loc_id IS NOT NULL
    )
    SELECT
      (SELECT max(bucket) FROM temperature) AS newest_bucket,
      (SELECT count(*)::integer FROM raw_dirty_hour) AS dirty_hours,
      (SELECT max((SELECT max(capture_dt) FROM temperature_raw t WHERE t.loc_id = raw_ids.loc_id)) FROM raw_ids WHERE raw_ids.loc_id IS NOT NULL) AS newest_capture`.execute(db);
  const row = rows[0];
  return { newestBucket: row?.newest_bucket ?? null, dirtyHours: row?.dirty_hours ?? 0, newestCapture: row?.newest_capture ?? null };
}
