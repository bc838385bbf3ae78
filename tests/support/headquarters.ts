import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ensureEmbeddedPostgres, freePort, type EmbeddedPostgres } from '../../db/index.js';
import { silentLog } from './aggregator-fixtures.js';
import { startBin, type BinProcess } from './processes.js';
import { query, type TestDatabase } from './database.js';


/** Debian's PostgreSQL 15 (package postgresql-15), the version existing plant deployments run. */
export const DEBIAN_PG15_BIN = '/usr/lib/postgresql/15/bin';

export async function debianPg15Installed(): Promise<boolean> {
  return fs.access(path.join(DEBIAN_PG15_BIN, 'pg_ctl')).then(
    () => true,
    () => false,
  );
}

function runAsPostgres(command: string, args: readonly string[]): Promise<void> {
  // PostgreSQL refuses to run as root: under root, run it as the postgres user.
  const [file, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, [...args]];
  return new Promise((resolve, reject) => {
    execFile(file, argv, (error, _stdout, stderr) => (error ? reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`)) : resolve()));
  });
}

/** How a headquarters server runs: the embedded PostgreSQL 18, or Debian's 15 (a cross-version pair with the plants). */
interface ServerKind {
  start(dataDir: string): Promise<string>;
  stop(dataDir: string): Promise<void>;
}

const EMBEDDED: ServerKind & { servers: Map<string, EmbeddedPostgres> } = {
  servers: new Map(),
  async start(dataDir) {
    const server = await ensureEmbeddedPostgres({ dataDir, log: silentLog, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } });
    this.servers.set(dataDir, server);
    return server.url;
  },
  async stop(dataDir) {
    await this.servers.get(dataDir)?.stop();
    this.servers.delete(dataDir);
  },
};

const DEBIAN_15: ServerKind = {
  async start(dataDir) {
    const data = path.join(dataDir, 'data');
    if (!(await fs.access(data).then(() => true, () => false))) {
      if (process.getuid?.() === 0) await fs.chown(dataDir, ...(await postgresIds()));
      await runAsPostgres(path.join(DEBIAN_PG15_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    }
    const port = await freePort();
    await runAsPostgres(path.join(DEBIAN_PG15_BIN, 'pg_ctl'), [
      '-D', data, '-l', path.join(dataDir, 'server.log'), '-w', '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -k ${dataDir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`, 'start',
    ]);
    const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
    if ((await query(admin, "SELECT 1 FROM pg_database WHERE datname = 'plant_climate'")).length === 0) await query(admin, 'CREATE DATABASE plant_climate');
    return `postgres://postgres@127.0.0.1:${port}/plant_climate`;
  },
  async stop(dataDir) {
    await runAsPostgres(path.join(DEBIAN_PG15_BIN, 'pg_ctl'), ['-D', path.join(dataDir, 'data'), '-m', 'fast', '-w', 'stop']);
  },
};

async function postgresIds(): Promise<[number, number]> {
  const line = (await fs.readFile('/etc/passwd', 'utf8')).split('\n').find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  return [Number(uid), Number(gid)];
}

/**
 * A second PostgreSQL, the headquarters of the replication tests, in a temporary directory (the
 * harness's server plays the plants): the embedded server by default, or Debian's PostgreSQL 15.
 * `stop` and `start` cut it off and bring it back on the same data directory, as a network cut
 * or an outage would; it is stopped through its own data directory, never by name.
 */
export class HeadquartersServer {
  #url: string | undefined;

  private constructor(
    readonly dataDir: string,
    readonly kind: ServerKind,
  ) {}

  static async start(version: 'embedded' | '15' = 'embedded'): Promise<HeadquartersServer> {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-hq-'));
    await fs.chmod(dataDir, 0o755);
    const hq = new HeadquartersServer(dataDir, version === '15' ? DEBIAN_15 : EMBEDDED);
    await hq.start();
    return hq;
  }

  /** postgres:// URL of the headquarters database (its port changes across a restart). */
  get url(): string {
    if (!this.#url) throw new Error('the headquarters server is stopped');
    return this.#url;
  }

  async start(): Promise<void> {
    this.#url = await this.kind.start(this.dataDir);
  }

  async stop(): Promise<void> {
    if (this.#url) await this.kind.stop(this.dataDir);
    this.#url = undefined;
  }

  /** Drops every subscription (and so its slot at the plant), stops the server, removes its files. */
  async destroy(): Promise<void> {
    if (this.#url) {
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
 * After a replication test: headquarters' server goes first (with it its subscriptions, which
 * would otherwise hold the plants' slots active), then each plant's leftover slots, then the plant.
 */
export async function dropHeadquartersAndPlants(hq: HeadquartersServer | undefined, plants: readonly TestDatabase[]): Promise<void> {
  await hq?.destroy();
  for (const plant of plants) {
    await dropPlantSlots(plant.url);
    await plant.drop();
  }
}

/**
 * md5 of every row of `table` (of one plant's locations with `locIdPrefix`), every column, in key
 * order: equal at plant and headquarters exactly when the rows are (both run the same
 * migrations, so the columns are in the same order).
 */
export async function tableChecksum(url: string, schema: string, table: string, key: string, locIdPrefix?: string): Promise<{ rows: number; md5: string | null }> {
  const [row] = await query<{ rows: number; md5: string | null }>(
    url,
    `SELECT count(*)::int AS rows, md5(string_agg(t::text, E'\\n' ORDER BY ${key})) AS md5 FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)} t
     WHERE $1::text IS NULL OR starts_with(t.loc_id, $1)`,
    [locIdPrefix ?? null],
  );
  return row ?? { rows: 0, md5: null };
}

/** `plant-climate api` (the compiled bin) on `databaseUrl`, on a free port; resolves with its base URL. */
export async function startApiBin(databaseUrl: string, schema: string): Promise<{ process: BinProcess; url: string }> {
  const api = startBin('plant-climate', ['api'], { DATABASE_URL: databaseUrl, DB_SCHEMA: schema, HOST: '127.0.0.1', PORT: '0', PLANT_TIMEZONE: 'UTC', LOG_LEVEL: 'warn' });
  const [, url] = await api.waitFor(/API listening on (http:\/\/\S+) /, 30_000);
  return { process: api, url: url ?? '' };
}
