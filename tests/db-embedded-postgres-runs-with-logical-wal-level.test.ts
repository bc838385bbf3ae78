import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureEmbeddedPostgres, type EmbeddedPostgres } from '../db/index.js';
import { silentLog } from './support/aggregator-fixtures.js';

async function walLevel(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level ?? '';
  } finally {
    await client.end();
  }
}

/**
 * `plant-climate replication publish` needs logical decoding on the default database too. A data
 * directory made (and run) before the setting existed gets it on its next start, because the
 * setting is passed on the server's command line, which wins over postgresql.conf.
 */
describe('the embedded PostgreSQL runs with wal_level=logical', () => {
  let dataDir: string | undefined;
  let server: EmbeddedPostgres | undefined;

  afterAll(async () => {
    await server?.stop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('on a data directory first started with the old level, after its restart', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-wal-'));
    await fs.chmod(dataDir, 0o755);
    // What an installation from before this setting ran with (PostgreSQL's default).
    server = await ensureEmbeddedPostgres({ dataDir, log: silentLog, settings: { wal_level: 'replica', fsync: 'off' } });
    expect(await walLevel(server.url)).toBe('replica');
    await server.stop();
    server = await ensureEmbeddedPostgres({ dataDir, log: silentLog, settings: { fsync: 'off' } });
    expect(await walLevel(server.url)).toBe('logical');
  });
});
