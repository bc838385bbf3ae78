import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { DEAD_LETTER_FILE, readDeadLetters, spoolDirectory } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';
import { metricsPortOf, startBin, startSimulator, waitFor, type BinProcess } from './support/modbus-processes.js';
import { runBin } from './support/processes.js';

describe('collector and a row the database refuses', () => {
  const database = useTestDatabase();
  let dir: string;
  let config: string;
  let simulator: BinProcess | undefined;
  let collector: BinProcess | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-poison-'));
    config = path.join(dir, 'gw.yaml');
    simulator = (await startSimulator(['--devices', '3', '--poll-interval', '250ms', '--write-config', config])).bin;
    await fs.appendFile(config, 'write: { max_delay: 300ms, timeout: 2s }\n');
    // What a DBA's new CHECK does to one location's readings: the database refuses them.
    await sql`ALTER TABLE temperature_raw ADD CONSTRAINT no_sim_02 CHECK (loc_id <> 'SIM-02')`.execute(database().db);
  });

  afterAll(async () => {
    await collector?.stop('SIGKILL');
    await simulator?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const env = () => ({ ...database().env, PLANT_DATA_DIR: dir, COLLECTOR_METRICS_PORT: '0' });
  const journalDir = () => spoolDirectory(dir, 'gw-sim');
  const count = async (locId: string) => Number((await sql<{ n: number }>`SELECT count(*) AS n FROM temperature_raw WHERE loc_id = ${locId}`.execute(database().db)).rows[0]?.n);

  it('stores the good rows at once, sets the bad one aside with its error, and replays it once fixed', async () => {
    collector = startBin(['--config', config], env());
    await waitFor('dead letters and good rows', async () => (await readDeadLetters(journalDir())).letters.length >= 4 && (await count('SIM-01')) >= 8, 30_000);
    // New readings keep flowing: the newest good row is from the last second or so.
    const newest = (await sql<{ newest: Date }>`SELECT max(capture_dt) AS newest FROM temperature_raw`.execute(database().db)).rows[0].newest;
    expect(Date.now() - newest.getTime()).toBeLessThan(3_000);
    expect(await count('SIM-02')).toBe(0);
    const { letters } = await readDeadLetters(journalDir());
    expect(new Set(letters.map((letter) => letter.reading.locId))).toEqual(new Set(['SIM-02']));
    expect(letters[0]).toMatchObject({ gateway: 'gw-sim', sqlstate: '23514' });
    expect(letters[0].error).toContain('no_sim_02');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPortOf(collector)}/metrics`)).text();
    expect(Number(/^plant_collector_dead_letter_readings_total (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(4);
    expect(Number(/^plant_collector_database_reachable (\S+)$/m.exec(metrics)?.[1])).toBe(1);
    expect(collector.stderr).toContain('the database refused readings');

    // The replay command will not run beside the collector that owns the directory.
    const busy = await runBin('collector', ['replay-dead-letters', '--config', config], env());
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`pid ${collector.child.pid}`);

    expect(await collector.stop('SIGTERM')).toBe(0);
    const setAside = (await readDeadLetters(journalDir())).letters;
    await sql`ALTER TABLE temperature_raw DROP CONSTRAINT no_sim_02`.execute(database().db);
    const replay = await runBin('collector', ['replay-dead-letters', '--config', config], env());
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ stored: setAside.length, stillRefused: 0 });
    expect(await count('SIM-02')).toBe(setAside.length);
    await expect(fs.access(path.join(journalDir(), DEAD_LETTER_FILE))).rejects.toThrow();
  });
});
