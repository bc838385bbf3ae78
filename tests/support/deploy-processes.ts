import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { describe } from 'vitest';
import { ensureEmbeddedPostgres, freePort } from '../../db/index.js';
import { createLogger } from '../../runtime/logger.js';
import { REPO } from './deploy-expressions.js';

export { freePort };

/** Polls `check` until it returns a value (not `undefined`), or fails with `what` after `timeoutMs`. */
export async function pollUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error : new Error(JSON.stringify(error));
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await delay(everyMs);
  }
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A bin of dist/ run by a test, with its output kept for assertions and for failure messages. */
export class BinProcess {
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<ExitStatus>;
  #status: ExitStatus | undefined;

  constructor(bin: 'plant-climate' | 'collector' | 'aggregator', args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [path.join(REPO, 'dist/bin', `${bin}.js`), ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => this.stdout.push(line));
    readline.createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.#status = { code, signal };
        resolve(this.#status);
      }),
    );
  }

  get running(): boolean {
    return this.#status === undefined;
  }

  /** The last lines of stderr, for an assertion's message. */
  tail(lines = 40): string {
    return this.stderr.slice(-lines).join('\n');
  }

  /** Resolves with the first stdout line matching `pattern`; fails if the process ends first. */
  async stdoutLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.stdout) {
        const match = pattern.exec(line);
        if (match) return match;
      }
      if (!this.running) throw new Error(`the process ended (${JSON.stringify(this.#status)}) before printing ${pattern}:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`no stdout line matching ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      await delay(100);
    }
  }

  /** The pino lines of stderr, parsed. */
  logLines(): Record<string, unknown>[] {
    return this.stderr.flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** Waits for the exit; `undefined` when it did not come within `timeoutMs`. */
  async exitWithin(timeoutMs: number): Promise<ExitStatus | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([this.exited, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)))]);
    clearTimeout(timer);
    return status;
  }

  /**
   * Ends the process for good (cleanup): SIGTERM and a grace period, then SIGKILL of it and of
   * its children (the launcher's children lead their own process groups).
   */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    const pid = this.child.pid;
    this.child.kill('SIGTERM');
    if (await this.exitWithin(graceMs)) return;
    for (const childPid of pid === undefined ? [] : childrenOf(pid)) {
      try {
        process.kill(-childPid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A fresh PLANT_DATA_DIR that PostgreSQL (run as `postgres` under root) can enter. */
export function freshDataDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/**
 * Removes a data directory, first stopping an embedded PostgreSQL left running in it (a launcher
 * that was killed leaves its server to be adopted; in a test nobody will).
 */
export async function removeDataDir(dir: string): Promise<void> {
  if (fs.existsSync(path.join(dir, 'postgres', 'postmaster.pid'))) {
    const server = await ensureEmbeddedPostgres({ dataDir: dir, log: createLogger('silent') }).catch(() => undefined);
    await server?.stop();
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The environment of a bin run by a test: this process's, with the plant variables reset. */
export function binEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'HOST', 'PORT', 'API_KEYS', 'START_HISTORY', 'COLLECTOR_METRICS_PORT', 'AGGREGATOR_METRICS_PORT']) {
    delete env[name];
  }
  return { ...env, LOG_LEVEL: 'info', ...overrides };
}

/** What `plant-climate start` needs on top of binEnv: the API's and both metrics ports, each a free one. */
export async function launcherPorts(): Promise<Record<'PORT' | 'COLLECTOR_METRICS_PORT' | 'AGGREGATOR_METRICS_PORT', string>> {
  return {
    PORT: String(await freePort()),
    COLLECTOR_METRICS_PORT: String(await freePort()),
    AGGREGATOR_METRICS_PORT: String(await freePort()),
  };
}

/**
 * Why the components `plant-climate start` runs cannot be used yet (their placeholder CLIs are
 * still in place, or dist/ is not built), or `undefined` when they can.
 */
export function componentsMissing(): string | undefined {
  const help = (bin: string, ...args: string[]) => {
    try {
      return execFileSync(process.execPath, [path.join(REPO, 'dist/bin', `${bin}.js`), ...args, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  if (!help('collector', 'simulate').includes('--seed-history')) return 'collector simulate is not built (npm run build)';
  if (!help('aggregator', 'backfill').includes('--start')) return 'aggregator backfill is not built';
  if (!help('plant-climate', 'api').includes('PORT')) return 'plant-climate api is not built';
  return undefined;
}

/** `describe` for tests that run the whole pipeline: skipped loudly while a component is missing. */
export function describeWithComponents(title: string, fn: () => void): void {
  const missing = componentsMissing();
  if (missing === undefined) {
    describe(title, fn);
    return;
  }
  if (process.env.CI) {
    describe(title, () => {
      throw new Error(`${missing} (CI builds everything before the tests)`);
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPING "${title}": ${missing} ***\n\n`);
  describe.skip(`${title} [SKIPPED: ${missing}]`, fn);
}
