import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { BinProcess, binEnv, describeWithComponents, launcherPorts } from './support/deploy-processes.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The launcher with a real gateway config (a simulator the test runs) against this file's database. */
describeWithComponents('plant-climate start, stopping', () => {
  const database = useTestDatabase();
  let scratch = '';
  let gatewayConfig = '';
  let env: NodeJS.ProcessEnv = {};
  let simulator: BinProcess | undefined;
  let launcher: BinProcess | undefined;

  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'start-stopping-'));
    fs.chmodSync(scratch, 0o755);
    env = binEnv({ ...database().env, PLANT_DATA_DIR: scratch });
    gatewayConfig = path.join(scratch, 'gateway.yaml');
    simulator = new BinProcess('collector', ['simulate', '--port', '0', '--devices', '1', '--write-config', gatewayConfig], env);
    await simulator.stdoutLine(/"event":"listening"/, 60_000);
  }, 90_000);

  afterEach(async () => {
    await launcher?.stop();
  });

  afterAll(async () => {
    await simulator?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function startLauncher(): Promise<Map<string, number>> {
    launcher = new BinProcess('plant-climate', ['start', '--config', gatewayConfig], { ...env, ...(await launcherPorts()) });
    await launcher.stdoutLine(/status page\s+http/, 120_000);
    return new Map(
      launcher
        .logLines()
        .filter((line) => line.msg === 'started' && typeof line.childPid === 'number')
        .map((line) => [line.child as string, line.childPid as number]),
    );
  }

  it('when a component dies: logs which one, stops the others and exits 1', async () => {
    const children = await startLauncher();
    expect([...children.keys()]).toEqual(['collector check', 'collector', 'aggregator', 'api']);
    process.kill(children.get('collector')!, 'SIGKILL');

    const status = await launcher!.exitWithin(10_000);
    expect(status?.code, launcher!.tail()).toBe(1);
    expect(launcher!.stderr.join('\n')).toContain('collector was killed by SIGKILL unexpectedly');
    expect(alive(children.get('aggregator')!)).toBe(false);
    expect(alive(children.get('api')!)).toBe(false);
  }, 90_000);

  it('on one Ctrl-C delivered twice (terminal and npm): stops each child in order and exits 0', async () => {
    const children = await startLauncher();
    // The terminal's SIGINT and the one npm forwards arrive back to back (when the kernel has not
    // merged them already, the launcher must count them once).
    launcher!.child.kill('SIGINT');
    launcher!.child.kill('SIGINT');

    const status = await launcher!.exitWithin(10_000);
    expect(status?.code, launcher!.tail()).toBe(0);
    const stopped = launcher!.logLines().filter((line) => line.msg === 'stopped');
    expect(stopped.map((line) => [line.child, line.code])).toEqual([
      ['api', 0],
      ['aggregator', 0],
      ['collector', 0],
    ]);
    for (const name of ['collector', 'aggregator', 'api']) expect(alive(children.get(name)!), name).toBe(false);
  }, 90_000);
});
