import { afterAll, describe, expect, it } from 'vitest';
import { Migrator, sql, type Kysely } from 'kysely';
import { migrations } from '../migrations/index.js';
import { listRawPartitions, migrateToLatest } from '../db/index.js';
import { createLogger, useTestDatabase } from './support/database.js';
import { until } from './support/aggregator-fixtures.js';
import { killAllBins, runBin, startBin } from './support/processes.js';

const CONVERSION = '0005-time-partitioned-raw';
const log = createLogger('silent');

describe('migration 0005 on a plain raw table with rows', () => {
  const database = useTestDatabase({ migrated: false });
  afterAll(killAllBins);

  it('killed while converting, or failing mid-way, leaves the plain table whole; run again it converts without losing a row', async () => {
    const { db, schema, pool, env } = database();
    const anyDb = db as unknown as Kysely<unknown>;
    const migrator = new Migrator({ db: anyDb, provider: { getMigrations: () => Promise.resolve(migrations) }, migrationTableSchema: schema });
    const previous = Object.keys(migrations).filter((name) => name < CONVERSION).sort().at(-1) ?? '';
    expect((await migrator.migrateTo(previous)).error).toBeUndefined();
    // 3 days up to now for 20 locations every 30 s (172,800 rows), and two readings with wrong clocks.
    await sql`
      INSERT INTO temperature_raw (loc_id, capture_dt, temperature, humidity, pcv_temperature, gateway_id)
      SELECT 'C-' || l, t, round((20 + l + sin(extract(epoch FROM t) / 999))::numeric, 2), 50, NULL, 'gw-c'
      FROM generate_series(1, 20) AS l, generate_series(date_trunc('minute', now()) - interval '3 days', date_trunc('minute', now()) - interval '30 seconds', interval '30 seconds') AS t`.execute(db);
    await sql`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, gateway_id) VALUES ('C-1', '2031-06-01T12:00:00Z', 1, 'gw-c'), ('C-1', '1970-01-01T00:00:05Z', 1, 'gw-c')`.execute(db);
    const fingerprint = async () =>
      (
        await sql<{ rows: number; digest: string; marks: number }>`
          SELECT count(*) AS rows, md5(string_agg(loc_id || capture_dt::text || coalesce(temperature::text, '-'), ',' ORDER BY loc_id, capture_dt)) AS digest,
                 (SELECT count(*) FROM raw_dirty_hour) AS marks
          FROM temperature_raw`.execute(db)
      ).rows[0];
    const kind = async () => (await sql<{ kind: string }>`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'temperature_raw'::regclass`.execute(db)).rows[0]?.kind;
    const applied = async () => (await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db)).rows.map((row) => row.name);
    const before = await fingerprint();
    expect(before?.rows).toBe(20 * 3 * 2880 + 2);

    // 1. Killed: the conversion waits on a lock the test holds (it reads aggregator_state only
    //    once the old table is renamed, the new one made and the old rows attached), and the
    //    migrating process is SIGKILLed there.
    const blocker = await pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE aggregator_state IN ACCESS EXCLUSIVE MODE');
      const migrate = startBin('plant-climate', ['migrate'], { ...env, LOG_LEVEL: 'warn' });
      let backend = 0;
      await until(async () => {
        const { rows } = await pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%raw_partition_create%'`,
        );
        backend = rows[0]?.pid ?? 0;
        return backend !== 0;
      }, 30_000, 'the migration to wait inside the conversion');
      // Inside its transaction the plain table is already renamed and attached.
      migrate.child.kill('SIGKILL');
      expect(await migrate.exited()).toBe('SIGKILL');
      await blocker.query('ROLLBACK');
      // The server rolls the orphaned transaction back once it notices the client is gone.
      await until(async () => (await pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backend])).rowCount === 0, 30_000, 'the killed backend to end');
    } finally {
      blocker.release();
    }
    expect(await kind()).toBe('r');
    expect(await applied()).not.toContain(CONVERSION);
    expect(await fingerprint()).toEqual(before);

    // 2. Failing mid-way: a table in the way of tomorrow's partition (the first after the old rows)
    //    makes its CREATE fail after the attach.
    const tomorrow = (await sql<{ day: Date }>`SELECT ((now() AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC' AS day`.execute(db)).rows[0]?.day;
    const inTheWay = `temperature_raw_p${tomorrow?.toISOString().slice(0, 10).replaceAll('-', '') ?? ''}`;
    await sql`CREATE TABLE ${sql.id(inTheWay)} (x int)`.execute(db);
    const failed = await runBin('plant-climate', ['migrate'], { ...env, LOG_LEVEL: 'warn' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/already exists/);
    expect(await kind()).toBe('r');
    expect(await fingerprint()).toEqual(before);
    await sql`DROP TABLE ${sql.id(inTheWay)}`.execute(db);

    // 3. Run again: converted, every row kept, no hour marked dirty by the move.
    const again = await runBin('plant-climate', ['migrate'], { ...env, LOG_LEVEL: 'warn' });
    expect(again.code, again.stderr).toBe(0);
    expect(await kind()).toBe('p');
    expect(await applied()).toContain(CONVERSION);
    expect(await fingerprint()).toEqual(before);
    const partitions = await listRawPartitions(db);
    const legacy = partitions.find((partition) => partition.name === 'temperature_raw_legacy');
    expect(legacy?.from?.toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(legacy?.to).toEqual(tomorrow);
    // The 2031 reading went to the default partition; the day partitions start where the legacy one ends.
    const odd = await sql<{ partition: string }>`SELECT tableoid::regclass::text AS partition FROM temperature_raw WHERE capture_dt > '2030-01-01'`.execute(db);
    expect(odd.rows).toEqual([{ partition: 'temperature_raw_default' }]);
    expect(partitions.some((partition) => partition.from?.getTime() === legacy?.to?.getTime())).toBe(true);
    // Written after the conversion, a reading lands and marks its hour as before.
    await sql`INSERT INTO temperature_raw (loc_id, capture_dt, temperature, gateway_id) VALUES ('C-99', now(), 5, 'gw-c')`.execute(db);
    expect((await fingerprint())?.marks).toBe((before?.marks ?? 0) + 1);
    expect(await migrateToLatest(anyDb, schema, log)).toEqual([]);
  });
});
