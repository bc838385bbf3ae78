import { sql, type Kysely } from 'kysely';

/**
 * Multi-plant deployments (issue 14): several plants replicate into one headquarters database
 * (`plant-climate replication publish` / `subscribe`), so their keys must not collide there.
 *
 * - `location_loc_id_plant_prefix`: when `location.plant` is set, `loc_id` starts with
 *   `<plant>-` (PA-01 in plant PA). Every plant-keyed table's key starts with `loc_id`
 *   (`temperature`, `location_threshold`'s (loc_id, version), the raw table), so this one rule
 *   makes all of them unique across plants. Rows already breaking the rule are kept: the
 *   constraint is added NOT VALID (PostgreSQL then checks every new or changed row, not the old
 *   ones) and validated at once when no row breaks it. A plant that never publishes to a
 *   headquarters keeps working after the upgrade; `replication publish` refuses while a row
 *   breaks the rule and lists them (db/replication.ts). Renaming a location is a data migration of
 *   its own (raw, hourly and threshold rows carry the id), so this migration does not guess one.
 * - `headquarters_plant`: at a headquarters, one row per plant subscribed to (written by
 *   `replication subscribe`); empty at a plant. The API reads it to know that it serves a
 *   headquarters (routes that need the plant's raw rows answer a problem there). Not published.
 *
 * This SQL is a snapshot as of this migration, on purpose.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE location ADD CONSTRAINT location_loc_id_plant_prefix
            CHECK (plant IS NULL OR starts_with(loc_id, plant || '-')) NOT VALID`.execute(db);
  await sql`COMMENT ON CONSTRAINT location_loc_id_plant_prefix ON location IS
            'loc_id starts with <plant>- when plant is set (PA-01 in plant PA), so that plants can share a headquarters database'`.execute(db);
  const { rows } = await sql<{ breaking: boolean }>`
    SELECT EXISTS (SELECT 1 FROM location WHERE plant IS NOT NULL AND NOT starts_with(loc_id, plant || '-')) AS breaking`.execute(db);
  if (!rows[0]?.breaking) await sql`ALTER TABLE location VALIDATE CONSTRAINT location_loc_id_plant_prefix`.execute(db);

  await sql`
    CREATE TABLE headquarters_plant (
      plant text PRIMARY KEY CHECK (plant ~ '^[A-Za-z0-9_]{1,40}$'),
      subscription text NOT NULL UNIQUE,
      publisher text NOT NULL,
      subscribed_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`COMMENT ON TABLE headquarters_plant IS
            'At a headquarters: the plants it subscribes to (plant-climate replication subscribe); empty at a plant'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE headquarters_plant`.execute(db);
  await sql`ALTER TABLE location DROP CONSTRAINT location_loc_id_plant_prefix`.execute(db);
}
