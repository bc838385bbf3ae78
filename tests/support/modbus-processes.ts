import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

const BIN = 'dist/bin/collector.js';

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await check();
      if (result) return result;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
    await delay(everyMs);
  }
}

export interface BinProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
  /** Sends the signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startBin(args: readonly string[], env: Record<string, string> = {}): BinProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const bin: BinProcess = {
    child,
    stdout: '',
    stderr: '',
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  child.stdout.on('data', (chunk: Buffer) => (bin.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (bin.stderr += chunk.toString()));
  return bin;
}

export interface SimulatorInfo {
  readonly ports: number[];
  readonly devices: { id: string; loc_id: string; port: number; unit_id: number }[];
}

/** Starts `collector simulate` and waits for its "listening" line. */
export async function startSimulator(args: readonly string[], env: Record<string, string> = {}): Promise<{ bin: BinProcess; info: SimulatorInfo }> {
  const bin = startBin(['simulate', '--port', '0', ...args], env);
  const line = await waitFor('the simulator to listen', () => {
    if (bin.child.exitCode !== null) throw new Error(`simulator exited: ${bin.stderr}`);
    return bin.stdout.split('\n').find((candidate) => candidate.includes('"listening"'));
  });
  return { bin, info: JSON.parse(line) as SimulatorInfo };
}

/** The metrics port a collector logged in its "collector running" line. */
export function metricsPortOf(bin: BinProcess): number | undefined {
  const line = bin.stderr.split('\n').find((candidate) => candidate.includes('"collector running"'));
  return line ? (JSON.parse(line) as { metricsPort: number }).metricsPort : undefined;
}
