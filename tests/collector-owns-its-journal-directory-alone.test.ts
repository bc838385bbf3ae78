import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spoolDirectory } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';
import { metricsPortOf, startBin, startSimulator, waitFor, type BinProcess } from './support/modbus-processes.js';

describe('one collector per journal directory', () => {
  const database = useTestDatabase();
  let dir: string;
  let config: string;
  let simulator: BinProcess | undefined;
  const collectors: BinProcess[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-lock-'));
    config = path.join(dir, 'gw.yaml');
    simulator = (await startSimulator(['--devices', '1', '--poll-interval', '500ms', '--write-config', config])).bin;
  });

  afterAll(async () => {
    for (const collector of collectors) await collector.stop('SIGKILL');
    await simulator?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const start = () => {
    const collector = startBin(['--config', config], { ...database().env, PLANT_DATA_DIR: dir, COLLECTOR_METRICS_PORT: '0' });
    collectors.push(collector);
    return collector;
  };

  it('makes a second collector exit 2 naming the first, and lets a restart after a SIGKILL take over', async () => {
    const first = start();
    await waitFor('the first collector', () => metricsPortOf(first));
    const second = start();
    expect(await second.exited).toBe(2);
    expect(second.stderr).toContain(`in use by another collector: pid ${first.child.pid}`);
    expect(first.child.exitCode).toBeNull();

    first.child.kill('SIGKILL');
    await first.exited;
    const third = start();
    await waitFor('the restarted collector', () => metricsPortOf(third));
    expect(third.stderr).toContain('taking over the journal lock of a collector that is gone');
    expect(await third.stop('SIGTERM')).toBe(0);
  });

  it('gives gateways whose names differ only in punctuation directories of their own', () => {
    const names = ['gw 1', 'gw_1', 'gw-1', 'gw%201', 'gw/1', '..', '.', 'gw.1', 'Gw 1'];
    const dirs = names.map((name) => spoolDirectory('/data', name));
    expect(new Set(dirs).size).toBe(names.length);
    for (const name of dirs) expect(path.dirname(name)).toBe('/data/spool');
    expect(spoolDirectory('/data', 'gw-sim')).toBe('/data/spool/gw-sim');
  });
});
