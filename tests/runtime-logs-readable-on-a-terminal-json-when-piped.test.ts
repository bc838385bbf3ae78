import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { REPO_ROOT, runBin } from './support/processes.js';

describe('log lines', () => {
  const database = useTestDatabase();
  const bin = path.join(REPO_ROOT, 'dist', 'bin', 'aggregator.js');
  const args = ['verify', '--start', '2024-01-01', '--end', '2024-01-01', '--repair'];

  it('stay one JSON object a line when piped', async () => {
    const run = await runBin('aggregator', args, { ...database().env, LOG_LEVEL: 'debug' });
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
  });

  // `script` (bsdutils, an essential Debian package) runs the command on a pseudo-terminal: stderr
  // is a TTY there, as in a person's shell.
  it('are readable on a terminal (pino-pretty)', () => {
    const env = { ...process.env, ...database().env, LOG_LEVEL: 'debug' };
    const command = [process.execPath, bin, ...args].map((part) => `'${part}'`).join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { env, encoding: 'utf8', timeout: 30_000 });
    const output = run.stdout.replaceAll('\r', '');
    expect(output).toMatch(/\[\d\d:\d\d:\d\d\.\d{3}\] .*(DEBUG|INFO)/);
    expect(output.split('\n').some((line) => line.startsWith('{"level"'))).toBe(false);
  });
});
