import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createRawPartitions } from '../db/index.js';
import { writeReadings } from '../collectors/raw-table-writer.js';
import type { Reading } from '../collectors/reading.js';
import { useTestDatabase } from './support/database.js';

const values = { temperature: 21.5, humidity: 40, pcv_temperature: null };
const DAY_1 = '2025-03-01';
const DAY_2 = '2025-03-02';

/** Six readings on both sides of midnight UTC and one a transmitter dated 2031 (no partition: the default). */
function batch(locId: string): Reading[] {
  const times = ['2025-03-01T22:59:50Z', '2025-03-01T23:00:00Z', '2025-03-01T23:59:50Z', '2025-03-02T00:00:00Z', '2025-03-02T00:00:10Z', '2025-03-02T01:30:00Z', '2031-06-01T12:00:00Z'];
  return times.map((time) => ({ locId, captureMs: Date.parse(time), values }));
}

describe("the collector's COPY of fresh readings", () => {
  const database = useTestDatabase();

  it('goes straight into the UTC-day partitions, and each row fires the statement triggers of exactly one table', async () => {
    const { db, pool } = database();
    // A counting statement trigger on the parent, before the days get their partitions: raw_partition_create gives them the parent's statement triggers.
    await sql`CREATE TABLE trigger_call (relation text NOT NULL, loc_id text NOT NULL, readings bigint NOT NULL)`.execute(db);
    await sql`
      CREATE FUNCTION count_inserted_readings() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO trigger_call SELECT TG_TABLE_NAME, loc_id, count(*) FROM new_rows GROUP BY loc_id;
        RETURN NULL;
      END $fn$`.execute(db);
    await sql`CREATE TRIGGER zz_count_inserted AFTER INSERT ON temperature_raw REFERENCING NEW TABLE AS new_rows
              FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_readings()`.execute(db);
    expect(await createRawPartitions(db, { from: new Date(DAY_1), to: new Date(DAY_2) })).toEqual(['temperature_raw_p20250301', 'temperature_raw_p20250302']);

    // Every partition (the migration's, the default, the new ones) carries the parent's statement triggers.
    const triggers = await sql<{ relation: string; names: string[] }>`
      SELECT c.relname AS relation, array_agg(t.tgname::text ORDER BY t.tgname) AS names
      FROM pg_class c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
      WHERE c.oid = 'temperature_raw'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'temperature_raw'::regclass)
      GROUP BY c.relname`.execute(db);
    const parent = triggers.rows.find((row) => row.relation === 'temperature_raw')?.names ?? [];
    expect(parent).toContain('temperature_raw_mark_dirty_insert');
    expect(parent).toContain('temperature_raw_count_frozen_late_insert');
    const partitions = await sql<{ relation: string }>`SELECT inhrelid::regclass::text AS relation FROM pg_inherits WHERE inhparent = 'temperature_raw'::regclass`.execute(db);
    for (const { relation } of partitions.rows) {
      const own = triggers.rows.find((row) => row.relation === relation)?.names ?? [];
      const expected = ['temperature_raw_p20250301', 'temperature_raw_p20250302'].includes(relation) ? parent : parent.filter((name) => name !== 'zz_count_inserted');
      expect({ relation, triggers: own }).toEqual({ relation, triggers: expected });
    }

    // Fresh readings (COPY) and the same readings of another location replayed (INSERT ... ON CONFLICT through the parent).
    expect(await writeReadings(pool, 'gw-part', batch('P-COPY'), 10_000)).toBe(7);
    expect(await writeReadings(pool, 'gw-part', batch('P-INSERT'), 10_000, { mayRepeat: true })).toBe(7);

    const calls = await sql<{ relation: string; loc_id: string; readings: number }>`
      SELECT relation, loc_id, sum(readings)::int AS readings FROM trigger_call GROUP BY 1, 2 ORDER BY 2, 1`.execute(db);
    expect(calls.rows).toEqual([
      // COPY named each day's partition, and the 2031 reading went through the parent to the default partition.
      { relation: 'temperature_raw', loc_id: 'P-COPY', readings: 1 },
      { relation: 'temperature_raw_p20250301', loc_id: 'P-COPY', readings: 3 },
      { relation: 'temperature_raw_p20250302', loc_id: 'P-COPY', readings: 3 },
      // A statement on the parent fires the parent's triggers only, never also the partitions'.
      { relation: 'temperature_raw', loc_id: 'P-INSERT', readings: 7 },
    ]);
    const stored = await sql<{ partition: string; n: number }>`
      SELECT tableoid::regclass::text AS partition, count(*)::int AS n FROM temperature_raw WHERE loc_id = 'P-COPY' GROUP BY 1 ORDER BY 1`.execute(db);
    expect(stored.rows).toEqual([
      { partition: 'temperature_raw_default', n: 1 },
      { partition: 'temperature_raw_p20250301', n: 3 },
      { partition: 'temperature_raw_p20250302', n: 3 },
    ]);

    // The real dirty-hour marks are the same whichever path wrote the rows.
    const marks = async (locId: string) =>
      (await sql<{ bucket: Date }>`SELECT bucket FROM raw_dirty_hour WHERE loc_id = ${locId} ORDER BY bucket`.execute(db)).rows.map((row) => row.bucket.toISOString());
    expect(await marks('P-COPY')).toHaveLength(5);
    expect(await marks('P-COPY')).toEqual(await marks('P-INSERT'));

    // Creating 1 June 2031's partition moves both 2031 readings out of the default partition: they
    // change partition, not hour, so no trigger marks anything, and the default's triggers are back on.
    await sql`DELETE FROM raw_dirty_hour`.execute(db);
    expect(await createRawPartitions(db, { from: new Date('2031-06-01'), to: new Date('2031-06-01') })).toEqual(['temperature_raw_p20310601']);
    const moved = await sql<{ partition: string }>`SELECT DISTINCT tableoid::regclass::text AS partition FROM temperature_raw WHERE capture_dt >= '2031-01-01'`.execute(db);
    expect(moved.rows).toEqual([{ partition: 'temperature_raw_p20310601' }]);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM raw_dirty_hour`.execute(db)).rows[0]?.n).toBe(0);
    const enabled = await sql<{ state: string }>`
      SELECT DISTINCT tgenabled AS state FROM pg_trigger WHERE tgrelid = 'temperature_raw_default'::regclass AND NOT tgisinternal`.execute(db);
    expect(enabled.rows).toEqual([{ state: 'O' }]);
  });

  it('goes through the parent when the day has no partition of that name, or one whose bounds do not hold the day, and never into a look-alike table', async () => {
    const { db, pool } = database();
    // A table named like a day partition but not attached: no reading may land there.
    await sql`CREATE TABLE temperature_raw_p20250305 (LIKE temperature_raw)`.execute(db);
    // A partition carrying a day's name but holding the next day: COPY into it fails on the partition constraint.
    await sql`CREATE TABLE temperature_raw_p20250310 (LIKE temperature_raw INCLUDING DEFAULTS)`.execute(db);
    await sql`ALTER TABLE temperature_raw ATTACH PARTITION temperature_raw_p20250310 FOR VALUES FROM ('2025-03-11T00:00:00Z') TO ('2025-03-12T00:00:00Z')`.execute(db);
    const readings: Reading[] = ['2025-03-05T10:00:00Z', '2025-03-10T10:00:00Z', '2025-03-11T10:00:00Z', '2033-06-01T12:00:00Z'].map((time) => ({
      locId: 'P-ODD',
      captureMs: Date.parse(time),
      values,
    }));
    for (const [index, reading] of readings.entries()) {
      // Twice each: the second write of a day uses what the writer remembered of the partitions.
      expect(await writeReadings(pool, 'gw-odd', [reading], 10_000)).toBe(1);
      expect(await writeReadings(pool, 'gw-odd', [{ ...reading, captureMs: reading.captureMs + 1000 + index }], 10_000)).toBe(1);
    }
    const stored = await sql<{ partition: string; n: number }>`
      SELECT tableoid::regclass::text AS partition, count(*)::int AS n FROM temperature_raw WHERE loc_id = 'P-ODD' GROUP BY 1 ORDER BY 1`.execute(db);
    expect(stored.rows).toEqual([
      { partition: 'temperature_raw_default', n: 6 },
      { partition: 'temperature_raw_p20250310', n: 2 },
    ]);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM temperature_raw_p20250305`.execute(db)).rows[0]?.n).toBe(0);
  });
});
