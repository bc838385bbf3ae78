import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateToLatest } from '../db/index.js';
import { createLogger, useTestDatabase } from './support/database.js';
import { runBin } from './support/processes.js';

describe('commands other than migrate', () => {
  const database = useTestDatabase({ migrated: false });

  it('refuse an unmigrated database, naming the command that fixes it', async () => {
    const backfill = await runBin('aggregator', ['backfill', '--start', '2024-01-01', '--end', '2024-01-01'], database().env);
    expect(backfill.code).toBe(1);
    expect(backfill.stderr).toMatch(/has not been created yet: run `npx plant-climate migrate` first/);

    const api = await runBin('plant-climate', ['api'], { ...database().env, PORT: '0' });
    expect(api.code).toBe(1);
    expect(api.stderr).toMatch(/run `npx plant-climate migrate` first/);
  });

  it('refuse a database migrated by a newer build, and run once it matches', async () => {
    const { db, schema } = database();
    await migrateToLatest(db as unknown as Kysely<unknown>, schema, createLogger('silent'));
    const verified = await runBin('aggregator', ['verify', '--start', '2024-01-01', '--end', '2024-01-01'], database().env);
    expect(verified.code, verified.stderr).toBe(0);

    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('9999-from-the-future', now()::text)`.execute(db);
    const refused = await runBin('aggregator', ['verify', '--start', '2024-01-01', '--end', '2024-01-01'], database().env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is newer than this build of plant-climate \(it has migration 9999-from-the-future\)/);
  });
});
