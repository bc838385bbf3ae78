import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ensureEmbeddedPostgres, type EmbeddedPostgres } from '../../db/index.js';
import { silentLog } from './aggregator-fixtures.js';
import { startBin, type BinProcess } from './processes.js';

/** Runs `text` on a fresh connection to `url`. */
export async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * A second PostgreSQL, the headquarters of the replication tests: an embedded server of its own
 * in a temporary directory (the harness's server plays the plants). `stop` and `start` cut it
 * off and bring it back on the same data directory, as a network cut or an outage would.
 */
export class HeadquartersServer {
  #server: EmbeddedPostgres | undefined;

  private constructor(readonly dataDir: string) {}

  static async start(): Promise<HeadquartersServer> {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-hq-'));
    await fs.chmod(dataDir, 0o755);
    const hq = new HeadquartersServer(dataDir);
    await hq.start();
    return hq;
  }

  /** postgres:// URL of the headquarters database (its port changes across a restart). */
  get url(): string {
    if (!this.#server) throw new Error('the headquarters server is stopped');
    return this.#server.url;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  async start(): Promise<void> {
    this.#server = await ensureEmbeddedPostgres({ dataDir: this.dataDir, log: silentLog, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } });
  }

  async stop(): Promise<void> {
    await this.#server?.stop();
    this.#server = undefined;
  }

  /** Drops every subscription (and so its slot at the plant), stops the server, removes its files. */
  async destroy(): Promise<void> {
    if (this.#server) {
      for (const { subname } of await query<{ subname: string }>(this.url, 'SELECT subname FROM pg_subscription')) {
        await query(this.url, `DROP SUBSCRIPTION ${pg.escapeIdentifier(subname)}`).catch(() => undefined);
      }
      await this.stop();
    }
    await fs.rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Drops the replication slots left in a plant database (a test that failed before unsubscribing), so that it can be dropped. */
export async function dropPlantSlots(plantUrl: string): Promise<void> {
  await query(plantUrl, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active');
}

/**
 * md5 of every row of `table`, every column, in key order: equal at plant and headquarters
 * exactly when the rows are (both run the same migrations, so the columns are in the same order).
 */
export async function tableChecksum(url: string, schema: string, table: string, key: string): Promise<{ rows: number; md5: string | null }> {
  const [row] = await query<{ rows: number; md5: string | null }>(
    url,
    `SELECT count(*)::int AS rows, md5(string_agg(t::text, E'\\n' ORDER BY ${key})) AS md5 FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)} t`,
  );
  return row ?? { rows: 0, md5: null };
}

/** `plant-climate api` (the compiled bin) on `databaseUrl`, on a free port; resolves with its base URL. */
export async function startApiBin(databaseUrl: string, schema: string): Promise<{ process: BinProcess; url: string }> {
  const api = startBin('plant-climate', ['api'], { DATABASE_URL: databaseUrl, DB_SCHEMA: schema, HOST: '127.0.0.1', PORT: '0', PLANT_TIMEZONE: 'UTC', LOG_LEVEL: 'warn' });
  const [, url] = await api.waitFor(/API listening on (http:\/\/\S+) /, 30_000);
  return { process: api, url: url ?? '' };
}
