import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from './support/database.js';
import { killAllBins, runBin, startBin } from './support/processes.js';

/**
 * The embedded default as users meet it: real bins, one data directory, several processes.
 * The first process starts the server, later ones reuse it, an owner killed with SIGKILL leaves a
 * server the next command adopts, a killed server is recovered from, and data survives it all.
 */
describe('the embedded PostgreSQL', () => {
  let dataDir: string;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-embedded-'));
    await fs.chmod(dataDir, 0o755);
    env = { PLANT_DATA_DIR: dataDir, DATABASE_URL: undefined, LOG_LEVEL: 'info' };
  });

  afterAll(async () => {
    await killAllBins();
    // Whatever a failed test left running is stopped through the same command users have.
    const owner = startBin('plant-climate', ['db'], env);
    await owner.waitFor(/postgres:\/\//, 60_000).catch(() => undefined);
    owner.child.kill('SIGTERM');
    await owner.exited();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  const postmasterPid = async () => Number((await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);

  it('is started once when two processes need it at the same moment', async () => {
    const [first, second] = await Promise.all([runBin('plant-climate', ['migrate'], env), runBin('plant-climate', ['migrate'], env)]);
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const starts = `${first.stderr}${second.stderr}`.match(/embedded PostgreSQL started/g) ?? [];
    const reuses = `${first.stderr}${second.stderr}`.match(/reusing the embedded PostgreSQL|embedded PostgreSQL started/g) ?? [];
    expect(starts.length).toBeGreaterThanOrEqual(1);
    expect(reuses.length).toBe(2);
    expect(`${first.stdout}${second.stdout}`).toMatch(/up to date/);
  });

  it('is shared by a second process while the first still runs, and keeps its data', async () => {
    const owner = startBin('plant-climate', ['db'], env);
    const [url] = await owner.waitFor(/postgres:\/\/\S+/, 60_000);
    const serverPid = await postmasterPid();

    const second = await runBin('plant-climate', ['migrate'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/reusing the embedded PostgreSQL started by another process/);
    expect(await postmasterPid()).toBe(serverPid);

    await query(url, `INSERT INTO flet_montrg.location (loc_id, name) VALUES ('KEEP-1', 'kept across restarts')`);
    owner.child.kill('SIGTERM');
    expect(await owner.exited()).toBe(0);
    expect(owner.stderr()).toMatch(/embedded PostgreSQL stopped/);
    await expect(fs.access(path.join(dataDir, 'postgres', 'postmaster.pid'))).rejects.toThrow();
  });

  it('is adopted by the next command when its owner was killed with SIGKILL', async () => {
    const owner = startBin('plant-climate', ['db'], env);
    await owner.waitFor(/postgres:\/\/\S+/, 60_000);
    const serverPid = await postmasterPid();
    owner.child.kill('SIGKILL');
    await owner.exited();

    const next = startBin('plant-climate', ['db'], env);
    const [url] = await next.waitFor(/postgres:\/\/\S+/, 60_000);
    expect(next.stderr()).toMatch(/adopting the embedded PostgreSQL left running by a process that has ended/);
    expect(await postmasterPid()).toBe(serverPid);
    expect(await query(url, `SELECT name FROM flet_montrg.location WHERE loc_id = 'KEEP-1'`)).toEqual([{ name: 'kept across restarts' }]);
    next.child.kill('SIGINT');
    expect(await next.exited()).toBe(0);
  });

  it('recovers when the server itself was killed, keeping committed data', async () => {
    const owner = startBin('plant-climate', ['db'], env);
    const [url] = await owner.waitFor(/postgres:\/\/\S+/, 60_000);
    await query(url, `INSERT INTO flet_montrg.location (loc_id, name) VALUES ('KEEP-2', 'committed before the crash')`);
    const serverPid = await postmasterPid();
    process.kill(serverPid, 'SIGKILL');
    owner.child.kill('SIGKILL');
    await owner.exited();

    const next = await runBin('plant-climate', ['migrate', '--status'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/recovering: the embedded PostgreSQL was killed; removing its stale postmaster.pid/);
    const again = startBin('plant-climate', ['db'], env);
    const [url2] = await again.waitFor(/postgres:\/\/\S+/, 60_000);
    expect(await query(url2, `SELECT loc_id FROM flet_montrg.location ORDER BY loc_id`)).toEqual([{ loc_id: 'KEEP-1' }, { loc_id: 'KEEP-2' }]);
    again.child.kill('SIGTERM');
    expect(await again.exited()).toBe(0);
  });

  it('is handed over, not stopped, when its owner ends while another process still uses it', async () => {
    const owner = startBin('plant-climate', ['db'], env);
    const [url] = await owner.waitFor(/postgres:\/\/\S+/, 60_000);
    const user = startBin('plant-climate', ['db'], env);
    await user.waitFor(/owned by another process/, 60_000);
    owner.child.kill('SIGTERM');
    expect(await owner.exited()).toBe(0);
    expect(owner.stderr()).toMatch(/handing the embedded PostgreSQL over/);
    expect(await query(url, 'SELECT 1 AS up')).toEqual([{ up: 1 }]);
    user.child.kill('SIGTERM');
    expect(await user.exited()).toBe(0);
    expect(user.stderr()).toMatch(/embedded PostgreSQL stopped/);
  });
});
