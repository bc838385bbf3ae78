import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';

export interface LatestRecord {
  loc_id: string;
  capture_dt: Date;
  temperature: number | null;
  humidity: number | null;
  pcv_temperature: number | null;
  gateway_id: string;
  received_at: Date;
}

/** The newest raw reading of each location, one index probe each (primary key (loc_id, capture_dt)). */
export async function latestReadings(db: Kysely<Database>, locIds: readonly string[]): Promise<LatestRecord[]> {
  if (locIds.length === 0) return [];
  const { rows } = await sql<LatestRecord>`
    SELECT r.loc_id, r.capture_dt, r.temperature, r.humidity, r.pcv_temperature, r.gateway_id, r.received_at
    FROM unnest(${[...locIds]}::text[]) AS ids(loc_id)
    CROSS JOIN LATERAL (
      SELECT * FROM temperature_raw t WHERE t.loc_id = ids.loc_id ORDER BY t.capture_dt DESC LIMIT 1
    ) AS r
    ORDER BY r.loc_id`.execute(db);
  return rows;
}
