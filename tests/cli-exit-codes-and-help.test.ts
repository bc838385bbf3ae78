import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from './support/processes.js';
import { useTestDatabase } from './support/database.js';

describe('every bin', () => {
  it.each(['plant-climate', 'collector', 'aggregator'] as const)('%s --help lists its commands and exits 0', async (bin) => {
    const result = await runBin(bin, ['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${bin}: `));
    expect(result.stdout).toMatch(/Exit codes: 0 done, 1 failed while running, 2 bad usage or config/);
  });

  it('plant-climate migrate --help names its options and environment', async () => {
    const result = await runBin('plant-climate', ['migrate', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--status/);
    expect(result.stdout).toMatch(/DATABASE_URL/);
  });

  it('rejects an unknown flag with exit 2 and the usage', async () => {
    const result = await runBin('plant-climate', ['migrate', '--force-everything']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--force-everything'/);
    expect(result.stderr).toMatch(/Usage: plant-climate migrate/);
  });

  it('rejects an unknown command with exit 2', async () => {
    const result = await runBin('aggregator', ['explode']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command "explode"/);
  });

  it('exits 2 naming the variable when the environment is invalid', async () => {
    const result = await runBin('plant-climate', ['migrate'], { PORT: 'eighty' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PORT: expected the API port/);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});

describe('plant-climate migrate against an external database (DATABASE_URL)', () => {
  const database = useTestDatabase({ migrated: false });

  it('applies the migrations, and a second run changes nothing', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-no-embedded-'));
    const env = { ...database().env, PLANT_DATA_DIR: dataDir };
    const first = await runBin('plant-climate', ['migrate'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/migration applied/);
    const second = await runBin('plant-climate', ['migrate'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toMatch(/migration applied/);
    expect(second.stdout).toMatch(/up to date/);
    // DATABASE_URL set: the embedded server was never started.
    expect(await fs.readdir(dataDir)).toEqual([]);
    await fs.rm(dataDir, { recursive: true, force: true });
  });
});
