import { METRICS, type Metric } from '../db/index.js';

/** A reading's values, one per metric of temperature_raw (NULL where not measured or not trusted). */
export type ReadingValues = Readonly<Record<Metric, number | null>>;

/** One poll's values for one location, as written to temperature_raw. */
export interface Reading {
  readonly locId: string;
  /** Unix milliseconds when the device's response arrived (capture_dt): wall clock, by design. */
  readonly captureMs: number;
  readonly values: ReadingValues;
}

/** Readings of one gateway, the unit of writing. */
export interface ReadingBatch {
  readonly gateway: string;
  readonly readings: readonly Reading[];
}

/** The values in METRICS order (the journal's and the writer's column order). */
export function valuesInOrder(values: ReadingValues): (number | null)[] {
  return METRICS.map((metric) => values[metric]);
}

/** The inverse of valuesInOrder. */
export function valuesFromOrder(list: readonly (number | null | undefined)[]): ReadingValues {
  const values = {} as Record<Metric, number | null>;
  METRICS.forEach((metric, index) => {
    values[metric] = list[index] ?? null;
  });
  return values;
}
