import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestDatabase } from './support/database.js';
import { metricsPortOf, startBin, startSimulator, waitFor, type BinProcess } from './support/modbus-processes.js';
import { TcpProxy, throughProxy } from './support/modbus-tcp-proxy.js';

/** Mounts a small tmpfs (root only); where that is not allowed the journal test's injected ENOSPC covers the journal alone. */
function mountTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const probe = await fs.mkdtemp(path.join(os.tmpdir(), 'tmpfs-probe-'));
const canMount = mountTmpfs(probe);
if (canMount) execFileSync('umount', [probe]);
await fs.rm(probe, { recursive: true, force: true });
if (!canMount) process.stderr.write('\n*** SKIPPING "collector on a full disk": cannot mount a tmpfs here (needs root); the injected ENOSPC of collector-journal-skips-torn-and-corrupt-records covers the journal ***\n\n');

describe.skipIf(!canMount)('collector on a full disk (a 192 KiB tmpfs)', () => {
  const database = useTestDatabase();
  let dir: string;
  let dataDir: string;
  let config: string;
  let simulator: BinProcess | undefined;
  let collector: BinProcess | undefined;
  let proxy: TcpProxy;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-enospc-'));
    dataDir = path.join(dir, 'data');
    await fs.mkdir(dataDir);
    expect(mountTmpfs(dataDir)).toBe(true);
    config = path.join(dir, 'gw.yaml');
    simulator = (await startSimulator(['--devices', '6', '--poll-interval', '100ms', '--write-config', config])).bin;
    await fs.appendFile(config, 'write: { max_delay: 200ms, timeout: 1s }\n');
    const target = new URL(database().url);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
  });

  afterAll(async () => {
    await collector?.stop('SIGKILL');
    await simulator?.stop();
    await proxy?.stop();
    if (dataDir) execFileSync('umount', [dataDir]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPortOf(collector!)}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const rows = async () => Number((await sql<{ n: number }>`SELECT count(*) AS n FROM temperature_raw`.execute(database().db)).rows[0]?.n);
  /** Fills the file system with one file until it refuses. */
  const fill = async () => {
    const handle = await fs.open(path.join(dataDir, 'filler'), 'w');
    try {
      for (;;) await handle.write(Buffer.alloc(4096, 1));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await handle.close();
    }
  };

  it('counts and logs ENOSPC, keeps storing while the database answers, and never crashes', async () => {
    collector = startBin(['--config', config], { ...database().env, DATABASE_URL: throughProxy(database().url, proxy), PLANT_DATA_DIR: dataDir, COLLECTOR_METRICS_PORT: '0' });
    await waitFor('readings stored', async () => (await rows()) >= 12);
    await fill();
    const errorsCode = 'plant_collector_journal_write_errors_total{code="ENOSPC"}';
    await waitFor('ENOSPC counted', async () => (await metric(errorsCode)) > 0);
    expect(collector.stderr).toMatch(/"level":50.*journal is full/);
    // The disk is full but the database answers: readings still reach it (from memory).
    const atFull = await rows();
    await waitFor('readings stored with the disk full', async () => (await rows()) >= atFull + 30);

    // Both gone: what the journal cannot take is lost, and counted.
    proxy.cut();
    await waitFor('dropped readings counted', async () => (await metric('plant_collector_spool_dropped_readings_total')) > 0, 20_000);
    expect(collector.child.exitCode).toBeNull();

    // Space and database back: readings flow and the journal works again.
    await fs.rm(path.join(dataDir, 'filler'));
    proxy.restore();
    const restored = await rows();
    await waitFor('readings stored again', async () => (await rows()) >= restored + 30, 30_000);
    await waitFor('the journal drained', async () => (await metric('plant_collector_spool_readings')) < 12, 30_000);
    expect(await collector.stop('SIGTERM')).toBe(0);
  });
});
