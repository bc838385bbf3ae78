import type pg from 'pg';
import type { Logger } from '../runtime/logger.js';
import { writeReadings } from './raw-table-writer.js';
import type { Reading } from './reading.js';
import { simulatedValues } from './simulated-values.js';
import type { SimulatedDevice } from './simulated-plant.js';

const CHUNK_ROWS = 20_000;

/**
 * Writes `durationMs` of simulated history (the simulator's own value model) for each device, one
 * reading every `intervalMs` on the aligned grid, through the collector's bulk path; readings that
 * exist already are skipped, so seeding twice changes nothing. Returns the rows that were new.
 */
export async function seedHistory(options: {
  pool: pg.Pool;
  gateway: string;
  devices: readonly SimulatedDevice[];
  durationMs: number;
  intervalMs: number;
  log: Logger;
  now?: number;
}): Promise<number> {
  const end = Math.floor((options.now ?? Date.now()) / options.intervalMs) * options.intervalMs;
  const start = end - options.durationMs;
  let written = 0;
  let chunk: Reading[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    written += await writeReadings(options.pool, options.gateway, chunk, 120_000, { mayRepeat: true });
    chunk = [];
  };
  for (let time = start; time < end; time += options.intervalMs) {
    for (const device of options.devices) {
      const values = simulatedValues(device.index, time);
      chunk.push({
        locId: device.loc_id,
        captureMs: time,
        values: {
          temperature: Math.round(values.temperature * 10) / 10,
          humidity: Math.round(values.humidity * 10) / 10,
          pcv_temperature: Number(Math.fround(values.pcvTemperature).toPrecision(7)),
        },
      });
      if (chunk.length >= CHUNK_ROWS) await flush();
    }
  }
  await flush();
  options.log.info({ from: new Date(start).toISOString(), to: new Date(end).toISOString(), devices: options.devices.length, written }, 'seeded simulated history');
  return written;
}
