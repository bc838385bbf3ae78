import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { replicationSlots } from '../db/index.js';
import { useTestDatabase } from './support/database.js';
import { killAllBins, startBin } from './support/processes.js';
import { insertReadings, until } from './support/aggregator-fixtures.js';

/**
 * A headquarters that is down or cut leaves its slot at the plant inactive, and the slot keeps
 * every WAL segment since until the plant's disk fills. The plant's `aggregator run` exports each
 * of our slots on its /metrics (read at scrape time) for HeadquartersSlotRetainingWal.
 */
describe('aggregator run exports the WAL each headquarters slot retains', () => {
  const database = useTestDatabase();
  // Slot names are cluster-wide and the test server is shared: a name of this file's own.
  const slot = `plant_climate_zz${randomBytes(4).toString('hex')}`;
  // Not ours (another tool's slot in the same database): a physical slot that reserves no WAL.
  const other = `other_tool_${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    await killAllBins();
    // A forgotten slot would retain WAL on the shared test server for ever.
    await database().pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($1, $2)', [slot, other]);
  });

  const gauge = (text: string, name: string): number | undefined => {
    const match = new RegExp(`^${name}\\{slot="${slot}"\\} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };

  it('an inactive slot of ours shows active 0 and its retained bytes growing with the writes; other slots are not ours', async () => {
    const { db, pool } = database();
    await pool.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    await pool.query('SELECT pg_create_physical_replication_slot($1)', [other]);
    const running = startBin('aggregator', ['run'], { ...database().env, AGGREGATOR_METRICS_PORT: '0', LOG_LEVEL: 'info' });
    const [, port] = await running.waitFor(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/);
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

    const before = await scrape();
    expect(before).toContain('# TYPE plant_aggregator_replication_slot_retained_wal_bytes gauge');
    expect(gauge(before, 'plant_aggregator_replication_slot_active')).toBe(0);
    const retainedBefore = gauge(before, 'plant_aggregator_replication_slot_retained_wal_bytes') ?? Number.NaN;
    expect(retainedBefore).toBeGreaterThanOrEqual(0);
    expect(before).not.toContain(other);

    // Writes after the slot was made: the slot keeps their WAL, and the gauge follows at the next scrape.
    await insertReadings(db, Array.from({ length: 200 }, (_, i) => ({ loc_id: 'ZZ-01', at: new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString(), values: [i, i, i] })));
    let retained = 0;
    await until(async () => {
      retained = gauge(await scrape(), 'plant_aggregator_replication_slot_retained_wal_bytes') ?? 0;
      return retained > retainedBefore && retained > 0;
    }, 20_000, 'the retained bytes to grow');
    const [row] = (await pool.query<{ retained: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows;
    // The scrape came before this read: at most what the slot retains now.
    expect(retained).toBeLessThanOrEqual(Number(row?.retained));
    running.child.kill('SIGTERM');
    expect(await running.exited()).toBe(0);
  });

  it('the slot query needs no privilege: a role with none reads the same slots', async () => {
    const { db } = database();
    const role = `pc_nobody_${randomBytes(4).toString('hex')}`;
    await sql`CREATE ROLE ${sql.id(role)} NOLOGIN`.execute(db);
    try {
      const slots = await db.connection().execute(async (connection) => {
        await sql`SET ROLE ${sql.id(role)}`.execute(connection);
        try {
          return await replicationSlots(connection);
        } finally {
          await sql`RESET ROLE`.execute(connection);
        }
      });
      expect(slots).toEqual([{ slot, active: false, retainedBytes: expect.any(Number) as number }]);
    } finally {
      await sql`DROP ROLE ${sql.id(role)}`.execute(db);
    }
  });
});
