import { describe, expect, it } from 'vitest';
import { simulatedValues } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';
import { startSimulator } from './support/modbus-processes.js';

describe('collector simulate --seed-history', () => {
  const database = useTestDatabase();

  it('writes the simulated history once, on the aligned grid, and a second run adds nothing', async () => {
    const seed = async () => {
      const { bin } = await startSimulator(['--devices', '3', '--seed-history', '1h', '--seed-interval', '5m'], database().env);
      expect(await bin.stop('SIGTERM')).toBe(0);
      return bin.stderr;
    };
    expect(await seed()).toContain('"written":36');
    const rows = await database().db.selectFrom('temperature_raw').selectAll().orderBy('loc_id').orderBy('capture_dt').execute();
    expect(rows).toHaveLength(36);
    for (const row of rows) {
      expect(row.capture_dt.getTime() % 300_000).toBe(0);
      expect(row.temperature).toBe(Math.round(simulatedValues(Number(row.loc_id.slice(4)) - 1, row.capture_dt.getTime()).temperature * 10) / 10);
    }
    expect(await seed()).toMatch(/"written":(0|3),/);
    const after = await database().db.selectFrom('temperature_raw').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    // A run that starts in the next 5-minute slot also seeds that one slot, nothing twice.
    expect([36, 39]).toContain(after.n);
  });
});
