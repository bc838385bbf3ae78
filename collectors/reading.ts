/** One poll's values for one location, as written to temperature_raw. */
export interface Reading {
  readonly locId: string;
  /** Unix milliseconds when the device's response arrived (capture_dt). */
  readonly captureMs: number;
  readonly temperature: number | null;
  readonly humidity: number | null;
  readonly pcvTemperature: number | null;
}

/** Readings of one gateway, the unit of writing and of spooling. */
export interface ReadingBatch {
  readonly gateway: string;
  readonly readings: readonly Reading[];
}
