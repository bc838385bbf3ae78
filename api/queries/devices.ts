import type { Kysely } from 'kysely';
import type { Database, Device as DeviceRow } from '../../db/schema.js';

export type DeviceStatus = 'ok' | 'failing' | 'silent';

/**
 * A device is `silent` when it has had no successful poll for `silentAfterMs` (or never had one),
 * `failing` when its latest polls failed but it answered recently, `ok` otherwise.
 */
export function deviceStatus(device: Pick<DeviceRow, 'last_ok_at' | 'consecutive_failures'>, now: Date, silentAfterMs: number): DeviceStatus {
  if (device.last_ok_at === null || now.getTime() - device.last_ok_at.getTime() > silentAfterMs) return 'silent';
  return device.consecutive_failures > 0 ? 'failing' : 'ok';
}

export async function listDevices(db: Kysely<Database>): Promise<DeviceRow[]> {
  return db.selectFrom('device').selectAll().orderBy('gateway_id').orderBy('device_id').execute();
}
