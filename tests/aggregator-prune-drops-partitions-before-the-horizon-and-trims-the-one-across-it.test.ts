import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ScheduledAggregator, pruneRaw } from '../aggregator/index.js';
import { createRawPartitions, listRawPartitions } from '../db/index.js';
import { useTestDatabase } from './support/database.js';
import { expectHourlyMatchesRaw, generateReadings, insertReadings, manualClock, silentLog, storedHourly } from './support/aggregator-fixtures.js';

const HOUR_MS = 3_600_000;

describe('prune on the day-partitioned raw table', () => {
  const database = useTestDatabase();

  it('drops whole day partitions before the horizon without a row trigger, trims only the one across it, across two prunes', async () => {
    const { db } = database();
    // (Already there when the suite runs with TEST_RAW_PARTITIONS covering 2024.)
    await createRawPartitions(db, { from: new Date('2024-05-01T00:00:00Z'), to: new Date('2024-05-03T00:00:00Z') });
    const bounds = new Map((await listRawPartitions(db)).map((partition) => [partition.name, [partition.from?.toISOString(), partition.to?.toISOString()]]));
    expect(bounds.get('temperature_raw_p20240501')).toEqual(['2024-05-01T00:00:00.000Z', '2024-05-02T00:00:00.000Z']);
    expect(bounds.get('temperature_raw_p20240503')).toEqual(['2024-05-03T00:00:00.000Z', '2024-05-04T00:00:00.000Z']);
    // 2 locations every 10 minutes for 3 days (144 readings per location and day), and a reading
    // whose clock said 1970 in the default partition.
    expect(await generateReadings(db, { locIds: ['P-01', 'P-02'], from: '2024-05-01T00:00:00Z', to: '2024-05-04T00:00:00Z', stepSeconds: 600 })).toBe(864);
    await insertReadings(db, [{ loc_id: 'P-01', at: '1970-01-01T00:00:05Z', values: [1, 1, 1] }]);
    // Every row a DELETE on the raw table removes passes through a statement trigger's transition
    // table, the one that marks hours dirty: this one only counts them.
    await sql`CREATE TABLE deleted_rows (n bigint)`.execute(db);
    await sql`CREATE FUNCTION count_deleted_rows() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN INSERT INTO deleted_rows SELECT count(*) FROM old_rows; RETURN NULL; END $$`.execute(db);
    await sql`CREATE TRIGGER temperature_raw_count_deleted AFTER DELETE ON temperature_raw
              REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_rows()`.execute(db);
    const deletedByStatements = async () => Number((await sql<{ n: number | null }>`SELECT sum(n) AS n FROM deleted_rows`.execute(db)).rows[0]?.n ?? 0);

    const clock = manualClock('2024-05-04T00:00:00Z');
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock }).runOnce('before prune');
    const hourlyBefore = await storedHourly(db);

    // Horizon 2 May 12:00: 1 May goes whole, 2 May is cut in half.
    const first = await pruneRaw(db, { timezone: 'UTC', retentionMs: 36 * HOUR_MS, now: clock(), batchSize: 100, deleteSliceHours: 5 });
    expect(first.frozenBefore?.toISOString()).toBe('2024-05-02T12:00:00.000Z');
    expect(first.partitionsDropped.filter((name) => name >= 'temperature_raw_p202405')).toEqual(['temperature_raw_p20240501']);
    expect(first.rawRowsDeleted).toBe(288 + 144 + 1);
    expect(await deletedByStatements()).toBe(144 + 1);
    const names = (await listRawPartitions(db)).map((partition) => partition.name);
    expect(names).not.toContain('temperature_raw_p20240501');
    expect(names).toContain('temperature_raw_p20240502');
    const counts = async () =>
      (
        await sql<{ before: number; after: number }>`
          SELECT count(*) FILTER (WHERE capture_dt < '2024-05-02T12:00:00Z') AS before, count(*) FILTER (WHERE capture_dt >= '2024-05-02T12:00:00Z') AS after
          FROM temperature_raw`.execute(db)
      ).rows[0];
    expect(await counts()).toEqual({ before: 0, after: 432 });
    // Frozen hours keep their rows; the rest still equals raw.
    expect(await storedHourly(db)).toEqual(hourlyBefore);
    await expectHourlyMatchesRaw(db, 'UTC', { from: new Date('2024-05-02T12:00:00Z') });

    // Nothing left to do at the same instant.
    const again = await pruneRaw(db, { timezone: 'UTC', retentionMs: 36 * HOUR_MS, now: clock(), batchSize: 100 });
    expect(again).toMatchObject({ partitionsDropped: [], rawRowsDeleted: 0 });
    expect(await listRawPartitions(db)).toEqual((await listRawPartitions(db)).filter((partition) => partition.isDefault || (partition.to ?? 0) > new Date('2024-05-02T12:00:00Z')));

    // A day and a quarter later the half-trimmed 2 May goes whole (its 144 rows left) and 3 May is cut at 18:00.
    clock.set('2024-05-05T06:00:00Z');
    const second = await pruneRaw(db, { timezone: 'UTC', retentionMs: 36 * HOUR_MS, now: clock(), batchSize: 100, deleteSliceHours: 5 });
    expect(second.frozenBefore?.toISOString()).toBe('2024-05-03T18:00:00.000Z');
    expect(second.partitionsDropped).toEqual(['temperature_raw_p20240502']);
    expect(second.rawRowsDeleted).toBe(144 + 216);
    expect(await deletedByStatements()).toBe(144 + 1 + 216);
    expect(await storedHourly(db)).toEqual(hourlyBefore);
    await expectHourlyMatchesRaw(db, 'UTC', { from: new Date('2024-05-03T18:00:00Z') });

    // A day wholly before the horizon is not created again, and no partition after it can be dropped.
    expect(await createRawPartitions(db, { from: new Date('2024-05-01T00:00:00Z'), to: new Date('2024-05-02T00:00:00Z') })).toEqual([]);
    await expect(sql`SELECT raw_partition_drop('temperature_raw_p20240503', true)`.execute(db)).rejects.toThrow(/after the raw-retention horizon/);
    await expect(sql`SELECT raw_partition_drop('temperature_raw_default', true)`.execute(db)).rejects.toThrow(/not a range partition/);
  });
});
