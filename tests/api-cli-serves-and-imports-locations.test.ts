import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLocations } from '../api/commands/locations-import.js';
import { PlantError } from '../runtime/errors.js';
import { useTestDatabase } from './support/database.js';

const BIN = path.resolve('dist/bin/plant-climate.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('plant-climate api and plant-climate locations import', () => {
  const database = useTestDatabase();
  let dir: string;
  const children: ChildProcess[] = [];
  const servers: Server[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'api-cli-'));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('imports a YAML file of locations in bulk, creating and updating', async () => {
    const file = path.join(dir, 'locations.yaml');
    await fs.writeFile(
      file,
      ['locations:', '  - loc_id: Y-01', '    name: Hall 1', '    temperature_max: 30', '  - { loc_id: Y-02, name: Hall 2, plant: Y, active: false }', ''].join('\n'),
    );
    expect(await importLocations(database().db, file)).toEqual({ created: 2, updated: 0 });
    await fs.writeFile(file, ['- loc_id: Y-01', '  name: Hall one', '- loc_id: Y-03', ''].join('\n'));
    expect(await importLocations(database().db, file)).toEqual({ created: 1, updated: 1 });
    const rows = await database().db.selectFrom('location').select(['loc_id', 'name', 'temperature_max', 'active']).where('loc_id', 'like', 'Y-%').orderBy('loc_id').execute();
    expect(rows).toEqual([
      { loc_id: 'Y-01', name: 'Hall one', temperature_max: null, active: true },
      { loc_id: 'Y-02', name: 'Hall 2', temperature_max: null, active: false },
      { loc_id: 'Y-03', name: null, temperature_max: null, active: true },
    ]);
  });

  it('names FILE:LINE and the field of every problem, and imports nothing then', async () => {
    const file = path.join(dir, 'bad.yaml');
    await fs.writeFile(
      file,
      ['locations:', '  - loc_id: Z-01', '    name: fine', '  - loc_id: Z-02', '    temperature_max: hot', '  - name: no id', '  - loc_id: Z-03', '    humidity_min: 80', '    humidity_max: 20', '    colour: red', ''].join('\n'),
    );
    const error = await importLocations(database().db, file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PlantError);
    const message = (error as PlantError).message;
    expect(message).toContain(`${file}:5 temperature_max:`);
    expect(message).toContain(`${file}:6 loc_id:`);
    expect(message).toContain(`${file}:7 colour:`);
    expect((error as PlantError).exitCode).toBe(2);
    expect(await database().db.selectFrom('location').select('loc_id').where('loc_id', 'like', 'Z-%').execute()).toEqual([]);
    await fs.writeFile(file, 'locations: [\n  {loc_id: "x"\n');
    await expect(importLocations(database().db, file)).rejects.toThrow(/bad\.yaml:\d+: not valid YAML/);
  });

  it('runs the import from the bin, and exits 2 on a bad file', async () => {
    const file = path.join(dir, 'bin.yaml');
    await fs.writeFile(file, '- { loc_id: BIN-1, name: From the bin }\n');
    const ok = await run(['locations', 'import', file], database().env);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('1 location(s) created, 0 updated');
    await fs.writeFile(file, '- { loc_id: BIN-2, temperature_min: cold }\n');
    const bad = await run(['locations', 'import', file], database().env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${file}:1 temperature_min:`);
    expect((await run(['locations', 'export', file], database().env)).code).toBe(2);
  });

  it('serves the API from `plant-climate api` until SIGTERM, and says clearly when the port is taken', async () => {
    const child = spawn(process.execPath, [BIN, 'api'], { env: { ...process.env, ...database().env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /API listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (match?.[1]) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`api exited with ${code}`)));
    });
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${url}/ready`)).status).toBe(200);
    // The compiled API finds the status page's files and uPlot from dist/.
    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('/vendor/uplot/uPlot.iife.min.js');
    for (const asset of ['/static/app.js', '/static/style.css', '/vendor/uplot/uPlot.iife.min.js', '/vendor/uplot/uPlot.min.css']) {
      expect((await fetch(`${url}${asset}`)).status, asset).toBe(200);
    }
    expect((await fetch(`${url}/vendor/uplot/uPlot.d.ts`)).status).toBe(404);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const blocker = createServer();
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const taken = await run(['api'], { ...database().env, HOST: '127.0.0.1', PORT: String(port) });
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`the API cannot listen on 127.0.0.1:${port}: the port is already in use`);
  });
});
