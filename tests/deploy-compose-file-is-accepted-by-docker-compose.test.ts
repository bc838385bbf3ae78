import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeWithPeer, peers } from './support/peers.js';
import { REPO } from './support/deploy-expressions.js';
import { componentsMissing } from './support/deploy-processes.js';

const run = promisify(execFile);

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: (string | { source?: string; target: string })[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
}

describeWithPeer(peers.dockerCompose, 'docker-compose.yml (docker-compose config)', () => {
  let scratch = '';
  const compose = (...args: string[]) => run('docker-compose', ['--project-directory', scratch, '-f', path.join(scratch, 'docker-compose.yml'), ...args], { cwd: scratch });

  beforeAll(() => {
    // A copy, so that the .env made from .env.example never lands in the working tree.
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-compose-'));
    for (const entry of ['docker-compose.yml', '.env.example', 'deploy', 'prometheus', 'grafana']) {
      fs.cpSync(path.join(REPO, entry), path.join(scratch, entry), { recursive: true });
    }
  });
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('refuses to render without the passwords of .env, naming the variable', async () => {
    const outcome = await compose('config').then(
      () => 'accepted',
      (error: { stderr?: string }) => error.stderr ?? '',
    );
    expect(outcome).toMatch(/POSTGRES_PASSWORD/);
  });

  it('accepts the file with a .env made from .env.example, with healthchecks and ordered start', async () => {
    fs.copyFileSync(path.join(scratch, '.env.example'), path.join(scratch, '.env'));
    const { stdout } = await compose('config');
    const config = parse(stdout) as { services: Record<string, Service>; volumes: Record<string, unknown> };
    const services = config.services;
    expect(Object.keys(services).sort()).toEqual(['aggregator', 'api', 'collector', 'grafana', 'migrate', 'postgres', 'prometheus', 'simulator']);

    expect(services.postgres.image).toMatch(/^postgres:15/);
    for (const name of ['postgres', 'simulator', 'collector', 'aggregator', 'api', 'prometheus', 'grafana']) {
      expect(services[name].healthcheck?.test.length, `${name} has a healthcheck`).toBeGreaterThan(0);
    }
    expect(services.migrate.command).toEqual(['sh', '-c', 'plant-climate migrate && plant-climate roles']);
    expect(services.migrate.environment?.DATABASE_URL).toBe('postgres://plant:change-me-postgres@postgres:5432/plant_climate');
    expect(services.migrate.restart).toBe('no');
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['collector', 'aggregator', 'api']) {
      expect(services[name].depends_on?.migrate, `${name} waits for the migration`).toEqual({ condition: 'service_completed_successfully' });
      // Each component logs in as its own least-privilege role (plant-climate roles), never as the owner.
      expect(services[name].environment?.DATABASE_URL).toBe(`postgres://plant_${name}:change-me-${name}@postgres:5432/plant_climate`);
    }
    expect(services.collector.depends_on?.simulator).toEqual({ condition: 'service_healthy' });
    expect(services.grafana.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, prometheus: { condition: 'service_healthy' } });

    // The collector's spool lives in a named volume under its PLANT_DATA_DIR.
    const dataDir = services.collector.environment?.PLANT_DATA_DIR;
    // docker-compose 1.x renders volumes as source:target:mode strings, 2.x as objects.
    const mounts = (services.collector.volumes ?? []).map((volume) =>
      typeof volume === 'string' ? { source: volume.split(':')[0], target: volume.split(':')[1] } : volume,
    );
    expect(mounts.find((mount) => mount.target === dataDir)?.source).toBe('collector-spool');
    expect(Object.keys(config.volumes)).toEqual(expect.arrayContaining(['pgdata', 'collector-spool']));

    // Every secret comes from .env; none is written into the compose file itself.
    expect(services.grafana.environment?.GF_SECURITY_ADMIN_PASSWORD).toBe('change-me-grafana-admin');
    const raw = fs.readFileSync(path.join(scratch, 'docker-compose.yml'), 'utf8');
    expect(raw).not.toContain('change-me');
  });
});

it('deploy/gateway.yaml polls the simulator service of the compose file', () => {
  const gateway = parse(fs.readFileSync(path.join(REPO, 'deploy/gateway.yaml'), 'utf8')) as { gateway: string; devices: { host: string; port?: number; loc_id: string }[] };
  const compose = parse(fs.readFileSync(path.join(REPO, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
  const simulator = compose.services.simulator.command!;
  const port = Number(simulator[simulator.indexOf('--port') + 1]);
  const devices = Number(simulator[simulator.indexOf('--devices') + 1]);
  expect(gateway.devices).toHaveLength(devices);
  for (const device of gateway.devices) {
    expect(device.host).toBe('simulator');
    expect(device.port).toBe(port);
  }
  expect(gateway.gateway).toBe(simulator[simulator.indexOf('--gateway') + 1]);
});

it.skipIf(componentsMissing() !== undefined)('deploy/gateway.yaml is a gateway config the collector accepts', async () => {
  const { stdout } = await run(process.execPath, [path.join(REPO, 'dist/bin/collector.js'), '--config', path.join(REPO, 'deploy/gateway.yaml'), '--check'], {
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });
  expect(stdout).toMatch(/OK \(gateway gw-sim: 4 devices/);
});
