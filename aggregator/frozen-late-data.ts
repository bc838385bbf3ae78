import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/index.js';

export interface FrozenMarks {
  /** Dirty marks of frozen hours dropped. */
  readonly dropped: number;
  /** Of those, hours that hold readings written after they froze (prune's own deletes mark hours too, without readings). */
  readonly hoursWithLateReadings: number;
}

/**
 * Drops the dirty marks of frozen hours (before `frozenBefore`) without touching their hourly
 * rows, and says so loudly: one warn line per hour that holds readings, since those readings
 * arrived after the hour froze and will never reach its row (the next prune deletes them). They
 * are counted, per reading, by the database itself (migration 0003's trigger) into
 * `aggregator_state.frozen_late_readings`, which the scheduled process exports.
 * Marks held by an uncommitted writer are skipped (and dropped by a later call).
 */
export async function dropFrozenMarks(db: Kysely<Database>, frozenBefore: Date, log: Logger | undefined): Promise<FrozenMarks> {
  const { rows } = await sql<{ loc_id: string; bucket: Date; readings: number }>`
    WITH dropped AS (
      DELETE FROM raw_dirty_hour WHERE (loc_id, bucket) IN (
        SELECT loc_id, bucket FROM raw_dirty_hour WHERE bucket < ${frozenBefore} FOR UPDATE SKIP LOCKED)
      RETURNING loc_id, bucket
    )
    SELECT d.loc_id, d.bucket,
           (SELECT count(*) FROM temperature_raw r WHERE r.loc_id = d.loc_id AND r.capture_dt >= d.bucket AND r.capture_dt < d.bucket + interval '1 hour') AS readings
    FROM dropped d ORDER BY d.loc_id, d.bucket`.execute(db);
  const late = rows.filter((row) => row.readings > 0);
  for (const hour of late) {
    log?.warn(
      { locId: hour.loc_id, bucket: hour.bucket.toISOString(), readings: hour.readings, frozenBefore: frozenBefore.toISOString() },
      `${hour.readings} reading(s) of ${hour.loc_id} for frozen hour ${hour.bucket.toISOString()} arrived after raw retention froze it ` +
        `(hours before ${frozenBefore.toISOString()}): its hourly row stays as it was; raise RAW_RETENTION if readings arrive this late`,
    );
  }
  return { dropped: rows.length, hoursWithLateReadings: late.length };
}

