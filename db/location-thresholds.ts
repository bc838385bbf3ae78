import { sql, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { Database, LocationThresholdTable } from './schema.js';

/**
 * Versioned location thresholds: which limits were in force when. A version is never changed;
 * a change, including a correction of the past (a `valid_from` before now), is a new version.
 * Inserting one marks the hours it affects dirty (a trigger of migration 0004), so the next
 * scheduled run recomputes their excursion counts.
 */

export type ThresholdVersion = Selectable<LocationThresholdTable>;
export type ThresholdLimits = Pick<ThresholdVersion, 'temperature_min' | 'temperature_max' | 'humidity_min' | 'humidity_max'>;
export const THRESHOLD_LIMITS = ['temperature_min', 'temperature_max', 'humidity_min', 'humidity_max'] as const satisfies readonly (keyof ThresholdLimits)[];

/**
 * The periods in which each version is in force, `[valid_from, valid_to)` per location: of the
 * versions with the same `valid_from` the last recorded one, until the next `valid_from`. The one
 * SQL definition of "the version in force at capture_dt", used by the hourly row and the
 * excursion events (the tests check it against an independent formulation).
 */
export const THRESHOLD_SPANS: RawBuilder<unknown> = sql`
  SELECT v.loc_id, v.valid_from,
         lead(v.valid_from, 1, 'infinity') OVER (PARTITION BY v.loc_id ORDER BY v.valid_from) AS valid_to,
         v.temperature_min, v.temperature_max, v.humidity_min, v.humidity_max
  FROM (SELECT DISTINCT ON (loc_id, valid_from) * FROM location_threshold ORDER BY loc_id, valid_from, version DESC) AS v`;

export const sameLimits = (a: ThresholdLimits, b: ThresholdLimits): boolean => THRESHOLD_LIMITS.every((limit) => a[limit] === b[limit]);

/** The version in force at `at` (inclusive valid_from), or undefined when none was. */
export async function thresholdsInForce(db: Kysely<Database> | Transaction<Database>, locId: string, at: Date): Promise<ThresholdVersion | undefined> {
  return db
    .selectFrom('location_threshold')
    .selectAll()
    .where('loc_id', '=', locId)
    .where('valid_from', '<=', at)
    .orderBy('valid_from', 'desc')
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Every version of a location, in the order they were recorded. */
export async function thresholdHistory(db: Kysely<Database>, locId: string): Promise<ThresholdVersion[]> {
  return db.selectFrom('location_threshold').selectAll().where('loc_id', '=', locId).orderBy('version').execute();
}

/**
 * Records a new version and makes the location row's limits those in force now (a correction
 * of the past leaves them alone when a later version is in force). Run inside the caller's
 * transaction together with its audit entry.
 */
export async function recordThresholdVersion(
  trx: Transaction<Database>,
  version: { loc_id: string; valid_from: Date; changed_by: string; reason: string } & ThresholdLimits,
  now: Date,
): Promise<ThresholdVersion> {
  const recorded = await trx.insertInto('location_threshold').values(version).returningAll().executeTakeFirstOrThrow();
  const current = await thresholdsInForce(trx, version.loc_id, now);
  await trx
    .updateTable('location')
    .set({
      temperature_min: current?.temperature_min ?? null,
      temperature_max: current?.temperature_max ?? null,
      humidity_min: current?.humidity_min ?? null,
      humidity_max: current?.humidity_max ?? null,
      updated_at: sql`now()`,
    })
    .where('loc_id', '=', version.loc_id)
    .execute();
  return recorded;
}
