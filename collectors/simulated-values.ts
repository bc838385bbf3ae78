/**
 * The simulator's value model: a daily temperature curve per location (warmest mid-afternoon UTC)
 * with a little noise, relative humidity moving against the temperature, and a process (PCV)
 * temperature some degrees above the room. Deterministic in (location, second), so tests can
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

/** Values of the 0-based `location` at `timeMs` (constant within each second). */
export function simulatedValues(location: number, timeMs: number): SimulatedValues {
  const second = Math.floor(timeMs / 1000);
  const hour = (((second / 3600) % 24) + 24) % 24;
  const base = 20 + (location % 7) * 1.2;
  const daily = 4 * Math.sin((2 * Math.PI * (hour - 9)) / 24);
  const temperature = base + daily + 0.3 * noise(location, second, 0);
  const humidity = Math.min(95, Math.max(5, 55 - 2 * (temperature - base) + 1.5 * noise(location, second, 1)));
  const pcvTemperature = temperature + 12 + 0.5 * noise(location, second, 2);
  return { temperature, humidity, pcvTemperature };
}
