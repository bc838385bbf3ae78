import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A compiled bin of the package run as a child process, with its output collected. */
export interface BinProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout+stderr, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited(): Promise<number | string>;
}

const running = new Set<ChildProcessWithoutNullStreams>();

export function startBin(bin: 'plant-climate' | 'collector' | 'aggregator', args: readonly string[], env: Record<string, string | undefined>): BinProcess {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'bin', `${bin}.js`), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, CI: undefined, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((waiter) => waiter());
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    notify();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    notify();
  });
  const exit = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      notify();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: () => exit,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = `${out}\n${err}`.match(pattern);
          if (match) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`${bin} ${args.join(' ')} exited before printing ${pattern}:\n${out}\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern} from ${bin} ${args.join(' ')}:\n${out}\n${err}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

/** Runs a bin to completion. */
export async function runBin(
  bin: 'plant-climate' | 'collector' | 'aggregator',
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const process = startBin(bin, args, env);
  process.child.stdin.end();
  const code = await process.exited();
  return { code, stdout: process.stdout(), stderr: process.stderr() };
}

/** Kills every bin a test started and left running (for afterAll). */
export async function killAllBins(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
