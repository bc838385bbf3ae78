/**
 * The simulator's value model: a daily temperature curve per location (warmest mid-afternoon UTC)
 * with a little noise, relative humidity moving against the temperature, and a process (PCV)
 * temperature some degrees above the room; one location drifts out of its limits now and then. Deterministic in (location, second), so tests can
 * recompute what a reading must have been and history seeding is reproducible.
 */
export interface SimulatedValues {
  readonly temperature: number;
  readonly humidity: number;
  readonly pcvTemperature: number;
}

function noise(location: number, second: number, channel: number): number {
  // A small integer hash (xorshift-multiply) mapped to [-1, 1).
  let x = (Math.imul(location + 1, 0x9e3779b1) ^ Math.imul(second | 0, 0x85ebca6b) ^ Math.imul(channel + 7, 0xc2b2ae35)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return (x >>> 0) / 2 ** 31 - 1;
}

/** The temperature a simulated location swings around (°C): ±4 over the day, plus noise. */
function baseTemperature(location: number): number {
  return 20 + (location % 7) * 1.2;
}

/**
 * The alarm limits the simulated plant registers for a location: wide enough for its daily
 * swing (±4 °C, humidity 55 ± 10 %RH), so only the drifting location leaves them.
 */
export function simulatedLimits(location: number): { temperature_min: number; temperature_max: number; humidity_min: number; humidity_max: number } {
  const base = baseTemperature(location);
  return { temperature_min: Math.round(base - 6), temperature_max: Math.round(base + 6), humidity_min: 25, humidity_max: 85 };
}

/** The simulated location that drifts out of its limits now and then: the second one (SIM-02). */
export const DRIFTING_LOCATION = 1;

/**
 * SIM-02's drift: for the first 20 minutes of every third hour (UTC) its temperature rises by up
 * to 7 °C and falls back (a door left open, a failing cooler), past the +6 °C limit the simulated
 * plant registers for it, so the status page shows excursions from the first minute.
 */
function drift(location: number, second: number): number {
  if (location !== DRIFTING_LOCATION) return 0;
  const into = (((second % 10_800) + 10_800) % 10_800) / 1200;
  return into < 1 ? 7 * Math.sin(Math.PI * into) : 0;
}

/** Values of the 0-based `location` at `timeMs` (constant within each second). */
export function simulatedValues(location: number, timeMs: number): SimulatedValues {
  const second = Math.floor(timeMs / 1000);
  const hour = (((second / 3600) % 24) + 24) % 24;
  const base = baseTemperature(location);
  const daily = 4 * Math.sin((2 * Math.PI * (hour - 9)) / 24);
  const temperature = base + daily + drift(location, second) + 0.3 * noise(location, second, 0);
  const humidity = Math.min(95, Math.max(5, 55 - 2 * (temperature - base) + 1.5 * noise(location, second, 1)));
  const pcvTemperature = temperature + 12 + 0.5 * noise(location, second, 2);
  return { temperature, humidity, pcvTemperature };
}
