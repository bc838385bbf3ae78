/**
 * The multi-plant location-id rule (contract, issue 14): when a location has a `plant`, its
 * `loc_id` starts with `<plant>-` (PA-01 in plant PA), so that plants can share a headquarters
 * database without their keys colliding. The database holds it as the CHECK constraint
 * `location_loc_id_plant_prefix` (migration 0007); the import and the API check it first to say
 * which line or field is wrong and how to fix it.
 */
export function plantPrefixOf(plant: string): string {
  return `${plant}-`;
}

/** Why `locId` may not belong to `plant`, or undefined when it may. */
export function plantPrefixProblem(locId: string, plant: string | null | undefined): string | undefined {
  if (plant === null || plant === undefined || locId.startsWith(plantPrefixOf(plant))) return undefined;
  return (
    `loc_id ${JSON.stringify(locId)} does not start with ${JSON.stringify(plantPrefixOf(plant))}, the prefix of its plant ${JSON.stringify(plant)}: ` +
    `a location of a plant carries the plant's code (e.g. ${plantPrefixOf(plant)}01) so that plants can share a headquarters database; ` +
    `use loc_id ${JSON.stringify(`${plantPrefixOf(plant)}${locId}`)}, or leave plant empty`
  );
}

/** SQL condition true for a `location` row that breaks the rule (the constraint's negation). */
export const BREAKS_PLANT_PREFIX = `plant IS NOT NULL AND NOT starts_with(loc_id, plant || '-')`;
