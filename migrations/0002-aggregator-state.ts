import { sql, type Kysely } from 'kysely';

/**
 * The aggregator's durable state: one row, because there is one hourly table per schema.
 *
 * `frozen_before` is the raw-retention horizon. Raw rows before it may have been dropped, so the
 * hourly rows before it are no longer a function of the raw table and must never be recomputed
 * from it; the horizon lives in the database (not in RAW_RETENTION) so that a run, a backfill
 * and a verify started with a different or no RAW_RETENTION still see it.
 * `last_run_at` / `last_verify_at` let the scheduled process export the gauges of runs and
 * verifies made by other processes (a `verify` from cron, a second host).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('aggregator_state')
    .addColumn('singleton', 'boolean', (col) => col.primaryKey().defaultTo(true).check(sql`singleton`))
    .addColumn('frozen_before', 'timestamptz')
    .addColumn('last_run_at', 'timestamptz')
    .addColumn('last_verify_at', 'timestamptz')
    .addColumn('last_verify_differences', 'integer')
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`INSERT INTO aggregator_state (singleton) VALUES (true)`.execute(db);
  await sql`ALTER TABLE aggregator_state ADD CONSTRAINT aggregator_state_frozen_before_hour
            CHECK (frozen_before IS NULL OR frozen_before = reading_hour(frozen_before))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('aggregator_state').execute();
}
