import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import { prettyLine, type Logger } from '../runtime/logger.js';
import { PlantError, EXIT_FAILED, EXIT_USAGE } from '../runtime/errors.js';

/** The package's own bins; the launcher runs them with the same Node as itself. */
export type Bin = 'collector' | 'aggregator' | 'plant-climate';

export interface ChildSpec {
  /** What the launcher calls the child in its logs: simulator, collector, aggregator, api. */
  readonly name: string;
  readonly bin: Bin;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Receives each line the child prints on stdout; by default they go to our stderr, prefixed. */
  readonly onStdout?: (line: string) => void;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A child that ended while the tree was not stopping. */
export interface UnexpectedExit extends ExitStatus {
  readonly name: string;
}

export function describeExit(status: ExitStatus): string {
  return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
}

export function binPath(bin: Bin): string {
  // Compiled, this file is dist/launcher/process-tree.js and the bins are dist/bin/*.js.
  return fileURLToPath(new URL(`../bin/${bin}.js`, import.meta.url));
}

class Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<ExitStatus>;
  #status: ExitStatus | undefined;

  constructor(spec: ChildSpec, log: Logger) {
    this.name = spec.name;
    // Each child leads its own process group: a Ctrl-C in the terminal reaches only the launcher,
    // which then stops the children one after the other (the API before the collector, the
    // collector before the simulator it polls, all of them before the database).
    this.process = spawn(process.execPath, [binPath(spec.bin), ...spec.args], {
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.process.once('error', (error) => {
        log.error({ err: error, child: this.name }, 'could not start child process');
      });
      this.process.once('close', (code, signal) => {
        this.#status = { code, signal };
        resolve(this.#status);
      });
    });
    const stdout = spec.onStdout ?? ((line: string) => forward(this.name, line));
    readline.createInterface({ input: this.process.stdout!, crlfDelay: Infinity }).on('line', stdout);
    readline.createInterface({ input: this.process.stderr!, crlfDelay: Infinity }).on('line', (line) => forward(this.name, line));
  }

  get running(): boolean {
    return this.#status === undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  signal(signal: NodeJS.Signals, group = false): void {
    if (!this.running || this.process.pid === undefined) return;
    try {
      process.kill(group ? -this.process.pid : this.process.pid, signal);
    } catch {
      // Already gone between the check and the kill.
    }
  }
}

/**
 * Children's pino lines already name their component: on a terminal they are printed readably,
 * piped they go through unchanged (one JSON object a line); anything else is prefixed with the child.
 */
export function forward(name: string, line: string): void {
  if (!line.startsWith('{')) process.stderr.write(`[${name}] ${line}\n`);
  else process.stderr.write(prettyLine ? prettyLine(line) : `${line}\n`);
}

/**
 * The launcher's children: long-running services, stopped in the reverse order of their start,
 * and one-shot tasks (the seed backfill) whose failure fails the start.
 */
export class ProcessTree {
  readonly #log: Logger;
  readonly #services: Child[] = [];
  readonly #tasks = new Set<Child>();
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #reportFailure: (failure: UnexpectedExit) => void = () => {};
  /** Resolves when a service ends on its own: the launcher then brings the whole tree down. */
  readonly failed: Promise<UnexpectedExit>;

  constructor(log: Logger) {
    this.#log = log;
    this.failed = new Promise((resolve) => (this.#reportFailure = resolve));
    // A forced exit (second Ctrl-C, an uncaught error) must not leave children running on
    // their own: they are in their own process groups and would outlive the launcher.
    process.once('exit', () => {
      for (const child of [...this.#services, ...this.#tasks]) child.signal('SIGKILL', true);
    });
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  #spawn(spec: ChildSpec): Child {
    if (this.#stopping) throw new PlantError('PC_STOPPING', `not starting ${spec.name}: shutting down`, EXIT_FAILED);
    const child = new Child(spec, this.#log);
    this.#log.info({ child: spec.name, childPid: child.process.pid, args: [spec.bin, ...spec.args] }, 'started');
    return child;
  }

  /** Starts a long-running child; its ending on its own is reported through `failed`. */
  service(spec: ChildSpec): { readonly pid: number | undefined; readonly exited: Promise<ExitStatus> } {
    const child = this.#spawn(spec);
    this.#services.push(child);
    void child.exited.then((status) => {
      if (this.#stopping) {
        this.#log.info({ child: child.name, code: status.code, signal: status.signal }, 'stopped');
        return;
      }
      this.#log.error({ child: child.name, code: status.code, signal: status.signal }, `${child.name} ${describeExit(status)} unexpectedly`);
      this.#reportFailure({ name: child.name, ...status });
    });
    return { pid: child.process.pid, exited: child.exited };
  }

  /**
   * Runs a child to completion. A non-zero exit fails with the child's own exit code class
   * (2 stays a usage/config error; its message is in the child's own log lines above).
   */
  async task(spec: ChildSpec): Promise<void> {
    const child = this.#spawn(spec);
    this.#tasks.add(child);
    const status = await child.exited;
    this.#tasks.delete(child);
    if (this.#stopping) throw new PlantError('PC_STOPPING', `${spec.name} interrupted: shutting down`, EXIT_FAILED);
    if (status.code !== 0) {
      throw new PlantError('PC_CHILD_FAILED', `${spec.name} ${describeExit(status)}`, status.code === EXIT_USAGE ? EXIT_USAGE : EXIT_FAILED);
    }
  }

  /**
   * Stops every child, newest service first, each with SIGTERM and time to finish (the collector
   * flushes its batches), SIGKILL for one that overstays; all within `budgetMs`.
   */
  stop(budgetMs: number): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      const deadline = Date.now() + budgetMs;
      for (const task of this.#tasks) task.signal('SIGTERM');
      for (const child of [...this.#services].reverse()) {
        if (!child.running) continue;
        this.#log.info({ child: child.name, childPid: child.process.pid }, 'stopping');
        child.signal('SIGTERM');
        await this.#awaitExit(child, Math.max(500, deadline - Date.now()));
      }
      for (const task of this.#tasks) await this.#awaitExit(task, Math.max(500, deadline - Date.now()));
    })();
    return this.#stopped;
  }

  async #awaitExit(child: Child, graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      child.exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#log.warn({ child: child.name, graceMs }, 'did not stop in time: killing it');
      child.signal('SIGKILL', true);
      await child.exited;
    }
  }
}
