import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadGatewayConfig } from '../collectors/index.js';
import { BinProcess, binEnv, describeWithComponents, freshDataDir, launcherPorts, pollUntil, removeDataDir } from './support/deploy-processes.js';

const LOCATIONS = ['SIM-01', 'SIM-02', 'SIM-03', 'SIM-04'];

interface Latest {
  loc_id: string;
  capture_dt: string;
  received_at: string;
}

/**
 * `npm start -- --transport rtu-over-tcp`: the simulated plant is one serial device server with
 * every transmitter on its 9,600-baud bus (raw RTU frames over TCP), and the whole pipeline runs
 * over it: collector, database, API.
 */
describeWithComponents('npm start --transport rtu-over-tcp', () => {
  let dataDir = '';
  let env: NodeJS.ProcessEnv = {};
  let launcher: BinProcess | undefined;

  beforeAll(async () => {
    dataDir = freshDataDir('start-rtu-');
    env = binEnv({ PLANT_DATA_DIR: dataDir, ...(await launcherPorts()) });
  });

  afterAll(async () => {
    await launcher?.stop();
    await removeDataDir(dataDir);
  });

  it('polls every simulated transmitter through one simulated device server into the API, and stops on Ctrl-C', async () => {
    const startedAt = Date.now();
    launcher = new BinProcess('plant-climate', ['start', '--transport', 'rtu-over-tcp', '--history', 'off'], env);
    const [, base] = await launcher.stdoutLine(/status page\s+(http:\/\/\S+?)\/?$/, 120_000);
    const gateway = await loadGatewayConfig(path.join(dataDir, 'sim-gateway.yaml'));
    expect(new Set(gateway.devices.map((device) => `${device.line.transport} ${device.line.key}`)).size).toBe(1);
    expect(gateway.devices.map((device) => [device.line.transport, device.unitId])).toEqual([
      ['rtu-over-tcp', 1],
      ['rtu-over-tcp', 2],
      ['rtu-over-tcp', 3],
      ['rtu-over-tcp', 4],
    ]);
    await pollUntil('a live reading from every simulated location', 90_000, async () => {
      const latest = await Promise.all(
        LOCATIONS.map(async (loc) => {
          const response = await fetch(`${base}/v1/locations/${loc}/latest`, { signal: AbortSignal.timeout(5_000) });
          return response.ok ? ((await response.json()) as Latest) : undefined;
        }),
      );
      return latest.every((row) => row !== undefined && Date.parse(row.received_at) >= startedAt) ? latest : undefined;
    }, 500);
    launcher.child.kill('SIGINT');
    const status = await launcher.exitWithin(10_000);
    expect(status?.code).toBe(0);
    await fs.access(dataDir);
  });
});
