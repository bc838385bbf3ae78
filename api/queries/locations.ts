import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { appendAudit, recordThresholdVersion, sameLimits, thresholdsInForce, type ThresholdLimits } from '../../db/index.js';
import type { Database, Location } from '../../db/schema.js';
import type { LocationInput } from '../schemas.js';

/** A location as the API serves it: its master data, and whether it has a master row at all. */
export type LocationRecord = Omit<Location, 'created_at' | 'updated_at'> & { registered: boolean };

/**
 * Every loc_id that has readings, hourly rows or devices. DISTINCT over the raw table would
 * read all of it; a recursive "loose index scan" jumps from one loc_id to the next along the
 * primary keys, one index probe per location.
 */
const SEEN_LOC_IDS = sql`
  raw_ids AS (
    (SELECT loc_id FROM temperature_raw ORDER BY loc_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.loc_id FROM temperature_raw r WHERE r.loc_id > raw_ids.loc_id ORDER BY r.loc_id LIMIT 1)
    FROM raw_ids WHERE raw_ids.loc_id IS NOT NULL
  ),
  hourly_ids AS (
    (SELECT loc_id FROM temperature ORDER BY loc_id LIMIT 1)
    UNION ALL
    SELECT (SELECT h.loc_id FROM temperature h WHERE h.loc_id > hourly_ids.loc_id ORDER BY h.loc_id LIMIT 1)
    FROM hourly_ids WHERE hourly_ids.loc_id IS NOT NULL
  ),
  seen AS (
    SELECT loc_id FROM raw_ids WHERE loc_id IS NOT NULL
    UNION SELECT loc_id FROM hourly_ids WHERE loc_id IS NOT NULL
    UNION SELECT loc_id FROM device
  )`;

const ALL_LOCATIONS = sql`
  SELECT loc_id, name, plant, area, temperature_min, temperature_max, humidity_min, humidity_max, active, true AS registered FROM location
  UNION ALL
  SELECT s.loc_id, NULL, NULL, NULL, NULL::float8, NULL::float8, NULL::float8, NULL::float8, true, false
  FROM seen s WHERE NOT EXISTS (SELECT 1 FROM location l WHERE l.loc_id = s.loc_id)`;

export async function listLocations(db: Kysely<Database>, options: { after: string | undefined; limit: number }): Promise<LocationRecord[]> {
  const after: RawBuilder<unknown> = options.after !== undefined ? sql`WHERE a.loc_id > ${options.after}` : sql``;
  const { rows } = await sql<LocationRecord>`
    WITH RECURSIVE ${SEEN_LOC_IDS}
    SELECT * FROM (${ALL_LOCATIONS}) AS a ${after} ORDER BY a.loc_id LIMIT ${options.limit}`.execute(db);
  return rows;
}

/** Every loc_id known to the system, registered or not (for the collection of latest readings). */
export async function allLocIds(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ loc_id: string }>`
    WITH RECURSIVE ${SEEN_LOC_IDS}
    SELECT loc_id FROM seen UNION SELECT loc_id FROM location ORDER BY loc_id`.execute(db);
  return rows.map((row) => row.loc_id);
}

/** The location, its unregistered stand-in when it only has data, or undefined when unknown. */
export async function findLocation(db: Kysely<Database>, locId: string): Promise<LocationRecord | undefined> {
  const row = await db.selectFrom('location').selectAll().where('loc_id', '=', locId).executeTakeFirst();
  if (row) {
    const { created_at: _created, updated_at: _updated, ...fields } = row;
    return { ...fields, registered: true };
  }
  const { rows } = await sql<{ seen: boolean }>`
    SELECT EXISTS (SELECT 1 FROM temperature_raw WHERE loc_id = ${locId})
        OR EXISTS (SELECT 1 FROM temperature WHERE loc_id = ${locId})
        OR EXISTS (SELECT 1 FROM device WHERE loc_id = ${locId}) AS seen`.execute(db);
  if (!rows[0]?.seen) return undefined;
  return {
    loc_id: locId,
    name: null,
    plant: null,
    area: null,
    temperature_min: null,
    temperature_max: null,
    humidity_min: null,
    humidity_max: null,
    active: true,
    registered: false,
  };
}

type LocationFields = Omit<LocationRecord, 'loc_id' | 'registered'>;

export interface SavedLocation {
  readonly location: LocationRecord;
  readonly created: boolean;
  /** The threshold version recorded, when the limits changed or a valid_from was given. */
  readonly thresholdVersion: number | undefined;
}

/** Why a save is refused before anything is written (the route answers 400, the import reports the line). */
export class LocationSaveRefused extends Error {
  constructor(
    readonly field: 'reason' | 'valid_from',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Creates or replaces a location's master row (fields left out become null, active: true), in
 * the caller's transaction, and records what changed: a new threshold version when the limits
 * differ from those in force (or a `valid_from` is given: a correction of the past), and one
 * audit entry with the row before and after. A threshold change needs a `reason`; a `valid_from`
 * may not lie in the future. Saving the same values again records nothing.
 */
export async function saveLocation(
  trx: Transaction<Database>,
  locId: string,
  input: LocationInput,
  context: { readonly actor: string; readonly now: Date },
): Promise<SavedLocation> {
  const values: LocationFields = {
    name: input.name ?? null,
    plant: input.plant ?? null,
    area: input.area ?? null,
    temperature_min: input.temperature_min ?? null,
    temperature_max: input.temperature_max ?? null,
    humidity_min: input.humidity_min ?? null,
    humidity_max: input.humidity_max ?? null,
    active: input.active ?? true,
  };
  const reason = input.reason?.trim() ? input.reason.trim() : undefined;
  const validFrom = input.valid_from !== undefined ? new Date(input.valid_from) : undefined;
  if (validFrom && validFrom.getTime() > context.now.getTime()) {
    throw new LocationSaveRefused('valid_from', `valid_from: ${input.valid_from ?? ''} is in the future; a threshold version applies from when it is recorded, or from a past instant for a correction`);
  }
  const stored = await trx.selectFrom('location').selectAll().where('loc_id', '=', locId).forUpdate().executeTakeFirst();
  const before: LocationFields | undefined = stored && {
    name: stored.name,
    plant: stored.plant,
    area: stored.area,
    temperature_min: stored.temperature_min,
    temperature_max: stored.temperature_max,
    humidity_min: stored.humidity_min,
    humidity_max: stored.humidity_max,
    active: stored.active,
  };
  const inForce = await thresholdsInForce(trx, locId, validFrom ?? context.now);
  const noLimits = { temperature_min: null, temperature_max: null, humidity_min: null, humidity_max: null };
  const thresholdsChange = validFrom !== undefined || !sameLimits(inForce ?? noLimits, values);
  if (thresholdsChange && reason === undefined) {
    throw new LocationSaveRefused('reason', 'reason: required when thresholds change (say why, for the audit trail)');
  }
  await trx
    .insertInto('location')
    .values({ loc_id: locId, ...values })
    .onConflict((oc) => oc.column('loc_id').doUpdateSet({ ...values, updated_at: sql`now()` }))
    .execute();
  const version = thresholdsChange
    ? await recordThresholdVersion(trx, { loc_id: locId, valid_from: validFrom ?? context.now, changed_by: context.actor, reason: reason ?? '', ...pickLimits(values) }, context.now)
    : undefined;
  const saved = await trx.selectFrom('location').selectAll().where('loc_id', '=', locId).executeTakeFirstOrThrow();
  const { created_at: _created, updated_at: _updated, loc_id: _locId, ...after } = saved;
  const changed = before === undefined || version !== undefined || JSON.stringify(before) !== JSON.stringify(after);
  if (changed) {
    await appendAudit(trx, {
      actor: context.actor,
      action: version ? 'thresholds.change' : before ? 'location.update' : 'location.create',
      subject: locId,
      reason,
      before: before ?? null,
      after: version ? { ...after, threshold_version: { ...pickLimits(version), version: version.version, valid_from: version.valid_from.toISOString() } } : after,
    });
  }
  return { location: { loc_id: locId, ...after, registered: true }, created: before === undefined, thresholdVersion: version?.version };
}

const pickLimits = (from: ThresholdLimits): ThresholdLimits => ({
  temperature_min: from.temperature_min,
  temperature_max: from.temperature_max,
  humidity_min: from.humidity_min,
  humidity_max: from.humidity_max,
});

/** Threshold pairs that cannot both hold: a min above its max. */
export function thresholdProblems(input: LocationInput): string[] {
  const problems: string[] = [];
  for (const metric of ['temperature', 'humidity'] as const) {
    const min = input[`${metric}_min`];
    const max = input[`${metric}_max`];
    if (typeof min === 'number' && typeof max === 'number' && min > max) problems.push(`${metric}_min (${min}) is above ${metric}_max (${max})`);
  }
  return problems;
}
