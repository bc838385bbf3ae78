import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { SIMULATED_PROFILE } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';
import { metricsPortOf, startBin, startSimulator, waitFor, type BinProcess } from './support/modbus-processes.js';
import { TcpProxy, throughProxy } from './support/modbus-tcp-proxy.js';
import { ModbusResponseCounter } from './support/modbus-response-counter.js';

const DEVICES = 4;
const INTERVAL = '250ms';

/**
 * The promise of issue 10, tried as an operator would: every response the (counting) peer served
 * ends up in temperature_raw exactly once, through SIGKILLs of the collector and a database cut.
 */
describe('collector chaos: SIGKILLs and a database cut', () => {
  const database = useTestDatabase();
  let dir: string;
  let config: string;
  let simulator: BinProcess | undefined;
  let dbProxy: TcpProxy;
  const counters: ModbusResponseCounter[] = [];
  const locByPortUnit = new Map<string, string>();
  const running: BinProcess[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-chaos-'));
    const started = await startSimulator(['--devices', String(DEVICES), '--units-per-port', '2']);
    simulator = started.bin;
    const counterOf = new Map<number, ModbusResponseCounter>();
    for (const port of started.info.ports) {
      const counter = await ModbusResponseCounter.start({ host: '127.0.0.1', port });
      counters.push(counter);
      counterOf.set(port, counter);
    }
    // One request per poll (the simulator's profile is one span of input registers), so a served response is a reading.
    const profile = Object.entries(SIMULATED_PROFILE)
      .map(([metric, spec]) => `    ${metric}: ${JSON.stringify(spec)}`)
      .join('\n');
    const devices = started.info.devices.map((device) => {
      const counter = counterOf.get(device.port)!;
      locByPortUnit.set(`${counter.port}#${device.unit_id}`, device.loc_id);
      return `  - { id: ${device.id}, loc_id: ${device.loc_id}, host: 127.0.0.1, port: ${counter.port}, unit_id: ${device.unit_id}, profile: sim }`;
    });
    config = path.join(dir, 'gw.yaml');
    await fs.writeFile(
      config,
      `gateway: gw-chaos\npoll_interval: ${INTERVAL}\ntimeout: 500ms\nwrite: { max_delay: 500ms, timeout: 2s }\nprofiles:\n  sim:\n${profile}\ndevices:\n${devices.join('\n')}\n`,
    );
    const target = new URL(database().url);
    dbProxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
  });

  afterAll(async () => {
    for (const collector of running) await collector.stop('SIGKILL');
    await simulator?.stop();
    for (const counter of counters) await counter.stop();
    await dbProxy?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Starts a collector; responses are withheld until its baseline is taken, so each counts for one run. */
  const start = async () => {
    for (const counter of counters) counter.pause();
    const collector = startBin(['--config', config], { ...database().env, DATABASE_URL: throughProxy(database().url, dbProxy), PLANT_DATA_DIR: dir, COLLECTOR_METRICS_PORT: '0' });
    running.push(collector);
    await waitFor('the collector to run', () => metricsPortOf(collector));
    const servedBefore = served();
    for (const counter of counters) counter.resume();
    return { collector, servedBefore };
  };
  const served = () => counters.reduce((sum, counter) => sum + counter.total(), 0);
  const metric = async (collector: BinProcess, pattern: RegExp) => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPortOf(collector)}/metrics`)).text();
    return [...text.matchAll(pattern)].reduce((sum, match) => sum + Number(match[1]), 0);
  };
  const okRequests = (collector: BinProcess) => metric(collector, /^plant_collector_requests_total\{[^}]*result="ok"[^}]*\} (\S+)$/gm);
  const journaled = (collector: BinProcess) => metric(collector, /^plant_collector_spool_readings (\S+)$/gm);
  const rows = async () => Number((await sql<{ n: number }>`SELECT count(*) AS n FROM temperature_raw`.execute(database().db)).rows[0]?.n);
  /** Withholds responses until the collector has read every one it was served, then kills it. */
  const kill = async (run: { collector: BinProcess; servedBefore: number }, signal: NodeJS.Signals) => {
    for (const counter of counters) counter.pause();
    await waitFor('the collector to have read every served response', async () => {
      const ok = await okRequests(run.collector);
      return ok === served() - run.servedBefore;
    });
    return run.collector.stop(signal);
  };

  it('stores every served reading exactly once', async () => {
    let run = await start();
    await waitFor('readings stored', async () => (await rows()) >= 20);
    await kill(run, 'SIGKILL');

    run = await start();
    const before = await rows();
    await waitFor('the restarted collector to store more', async () => (await rows()) > before + 8);
    dbProxy.cut();
    const cutAt = Date.now();
    await waitFor('readings journaled during the cut', async () => (await journaled(run.collector)) >= 20, 20_000);
    await kill(run, 'SIGKILL');

    run = await start();
    // The cut lasts several seconds, across a kill and a restart.
    await waitFor('more readings journaled, database still cut', async () => (await okRequests(run.collector)) >= 12 && Date.now() - cutAt >= 5_000, 20_000);
    dbProxy.restore();
    await waitFor('the replay to start', async () => (await rows()) > before + 20, 20_000);
    await kill(run, 'SIGKILL');

    run = await start();
    await waitFor('the journal to drain', async () => (await journaled(run.collector)) === 0 && (await okRequests(run.collector)) >= 8, 30_000);
    expect(await kill(run, 'SIGTERM')).toBe(0);

    const byLocation = await sql<{ loc_id: string; n: number; distinct_n: number }>`
      SELECT loc_id, count(*) AS n, count(DISTINCT capture_dt) AS distinct_n FROM temperature_raw GROUP BY loc_id ORDER BY loc_id`.execute(database().db);
    const servedByLocation = new Map<string, number>();
    for (const counter of counters) {
      for (const [unit, count] of counter.served) {
        const locId = locByPortUnit.get(`${counter.port}#${unit}`)!;
        servedByLocation.set(locId, (servedByLocation.get(locId) ?? 0) + count);
      }
    }
    expect(Object.fromEntries(byLocation.rows.map((row) => [row.loc_id, Number(row.n)]))).toEqual(Object.fromEntries(servedByLocation));
    for (const row of byLocation.rows) expect(Number(row.distinct_n)).toBe(Number(row.n));
    expect(served()).toBeGreaterThan(80);
  });
});
