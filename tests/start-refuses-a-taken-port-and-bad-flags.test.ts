import fs from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinProcess, binEnv, freshDataDir, removeDataDir } from './support/deploy-processes.js';

/** Refusals that happen before anything is started: they need no database and no component. */
describe('plant-climate start refuses to start', () => {
  let dataDir = '';
  let taken: Server;
  let takenPort = 0;

  beforeAll(async () => {
    dataDir = freshDataDir('start-refuses-');
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    takenPort = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
    await removeDataDir(dataDir);
  });

  async function refusal(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string[] }> {
    const launcher = new BinProcess('plant-climate', ['start', ...args], binEnv({ PLANT_DATA_DIR: dataDir, HOST: '127.0.0.1', ...env }));
    const status = await launcher.exitWithin(60_000);
    if (!status) await launcher.stop();
    expect(status, launcher.tail()).toBeDefined();
    // What a person reads: the lines that are not pino JSON (the process logs its own shutdown).
    return { code: status!.code, stderr: launcher.stderr.filter((line) => !line.startsWith('{')) };
  }

  it('when the API port is taken: one clear line, exit 2, and nothing started', async () => {
    const { code, stderr } = await refusal([], { PORT: String(takenPort) });
    expect(code).toBe(2);
    expect(stderr).toEqual([
      `plant-climate: the API cannot listen on 127.0.0.1:${takenPort}: the port is already in use. Stop the program using it, or choose another port: PORT=${takenPort + 1} npm start`,
    ]);
    // Checked before the database: no embedded PostgreSQL was initialised or started.
    expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
  });

  it("when a component's metrics port is taken, naming the variable that moves it", async () => {
    const { code, stderr } = await refusal([], { PORT: '0', COLLECTOR_METRICS_PORT: String(takenPort) });
    expect(code).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toContain(`the collector metrics endpoint cannot listen on 127.0.0.1:${takenPort}: the port is already in use`);
    expect(stderr[0]).toContain('COLLECTOR_METRICS_PORT=');
  });

  it('on a bad --history, --devices or START_HISTORY, or a missing --config file', async () => {
    const cases = [
      [['--history', '7x'], {}, /--history: expected a duration/],
      [['--devices', '0'], {}, /--devices: expected a whole number from 1 to 64/],
      [[], { START_HISTORY: 'a week' }, /START_HISTORY: expected simulated history/],
      [['--config', path.join(dataDir, 'missing.yaml')], {}, /--config: cannot read the gateway config/],
      [['--config', 'x.yaml', '--history', '1d'], {}, /with --config no simulator runs/],
      [['--bogus'], {}, /Unknown option '--bogus'/],
    ] as const;
    const outcomes = await Promise.all(cases.map(([args, env]) => refusal([...args], { PORT: '0', ...env })));
    outcomes.forEach(({ code, stderr }, index) => {
      expect(code, stderr.join('\n')).toBe(2);
      expect(stderr.join('\n')).toMatch(cases[index][2]);
      expect(stderr.join('\n')).not.toMatch(/^\s+at /m);
    });
    expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
  }, 240_000);
});
